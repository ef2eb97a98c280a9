# Writes OUT, a C file defining hs__migrations[]: {name, sql} for each of
# FILES in order, so programs need no SQL files at run time.
#
# Each file becomes a char array initializer of hex bytes ending in 0x00,
# not a string literal: a migration is easily longer than the 4095
# characters -Wpedantic (-Woverlength-strings) accepts in a C11 literal,
# and bytes need no escaping.
string(REPLACE "|" ";" FILES "${FILES}")
set(body "/* Generated from schemas/sql by lib/embed_sql.cmake. */\n#include <stddef.h>\n#include \"hs_pg_migrations.h\"\n\n")
set(entries "")
set(count 0)
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  if(NOT name MATCHES "^[0-9][0-9][0-9]_[A-Za-z0-9_]+\\.sql$")
    message(FATAL_ERROR "embed_sql: bad migration name ${name} (want NNN_name.sql)")
  endif()
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  # Bytes above 0x7f (UTF-8 in comments) do not fit a signed char without
  # a cast (-Woverflow).
  string(REGEX REPLACE "0x([89a-f][0-9a-f])" "(char)0x\\1" hex "${hex}")
  # Break the initializer into lines of 16 bytes (CMake regexes have no
  # {n} quantifier, hence the repeated pattern).
  string(REPEAT "[(char)]*0x[0-9a-f][0-9a-f]," 16 line16)
  string(REGEX REPLACE "(${line16})" "\\1\n    " hex "${hex}")
  string(APPEND body "static const char sql_${count}[] = {\n    ${hex}0x00};\n\n")
  string(APPEND entries "    {\"${name}\", sql_${count}},\n")
  math(EXPR count "${count}+1")
endforeach()
string(APPEND body "const struct hs__migration hs__migrations[] = {\n${entries}};\n")
string(APPEND body "const size_t hs__migrations_count = ${count};\n")
file(WRITE ${OUT} "${body}")
