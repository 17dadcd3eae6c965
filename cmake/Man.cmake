# Man pages (docs/man, mdoc written by hand): anysock(1), anysock(3) and one
# page per function or group of functions. Every other name in a page's NAME
# section gets an alias, a symbolic link to the page as Debian policy
# prefers over .so (mandoc -T lint warns about .so). docs/man/check.pl keeps
# the pages in step with the header; ctest runs it (label docs).
if(NOT ANYSOCK_INSTALL AND NOT ANYSOCK_BUILD_TESTS)
  return()   # a FetchContent consumer needs none of this
endif()

set(ANYSOCK_MAN_SRC ${PROJECT_SOURCE_DIR}/docs/man)
set(ANYSOCK_MAN_BIN ${PROJECT_BINARY_DIR}/man)

file(GLOB ANYSOCK_MAN1 CONFIGURE_DEPENDS ${ANYSOCK_MAN_SRC}/man1/*.1)
file(GLOB ANYSOCK_MAN3 CONFIGURE_DEPENDS ${ANYSOCK_MAN_SRC}/man3/*.3)

# The aliases, made at configure time (re-run when a page changes).
file(REMOVE_RECURSE ${ANYSOCK_MAN_BIN})
file(MAKE_DIRECTORY ${ANYSOCK_MAN_BIN}/man3)
set(ANYSOCK_MAN3_ALIASES "")
foreach(page IN LISTS ANYSOCK_MAN3)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${page})
  get_filename_component(pagefile ${page} NAME)
  file(STRINGS ${page} lines REGEX "^\\.(Sh|Nm) ")
  set(in_name OFF)
  foreach(line IN LISTS lines)
    if(line MATCHES "^\\.Sh NAME")
      set(in_name ON)
    elseif(line MATCHES "^\\.Sh ")
      set(in_name OFF)
    elseif(in_name AND line MATCHES "^\\.Nm ([A-Za-z0-9_]+)")
      set(alias ${CMAKE_MATCH_1}.3)
      if(NOT alias STREQUAL pagefile)
        file(CREATE_LINK ${pagefile} ${ANYSOCK_MAN_BIN}/man3/${alias} SYMBOLIC)
        list(APPEND ANYSOCK_MAN3_ALIASES ${ANYSOCK_MAN_BIN}/man3/${alias})
      endif()
    endif()
  endforeach()
endforeach()

if(ANYSOCK_INSTALL)
  install(FILES ${ANYSOCK_MAN1}
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT man)
  install(FILES ${ANYSOCK_MAN3} ${ANYSOCK_MAN3_ALIASES}
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT man)
endif()

if(ANYSOCK_BUILD_TESTS)
  find_program(ANYSOCK_PERL perl)
  if(ANYSOCK_PERL)
    # Lint, header, exports and usage; with install rules, also installs
    # the man component into a scratch prefix and finds every page there.
    set(man_check ${ANYSOCK_PERL} ${ANYSOCK_MAN_SRC}/check.pl
      --lib $<TARGET_FILE:anysock>)
    if(ANYSOCK_INSTALL)
      set(man_prefix ${PROJECT_BINARY_DIR}/man-install)
      add_test(NAME man_pages
        COMMAND sh -c "rm -rf \"$1\" && \"$2\" --install \"$3\" --component man --prefix \"$1\" >/dev/null && shift 3 && exec \"$@\""
                sh ${man_prefix} ${CMAKE_COMMAND} ${PROJECT_BINARY_DIR}
                ${man_check} --installed ${man_prefix}/${CMAKE_INSTALL_MANDIR})
    else()
      add_test(NAME man_pages COMMAND ${man_check})
    endif()
    set_tests_properties(man_pages PROPERTIES LABELS docs
      SKIP_RETURN_CODE 77 TIMEOUT 120)
  else()
    message(WARNING "perl not found: the man_pages test is not registered")
  endif()
endif()
