// Python `str` semantics over UTF-8 bytes, for the chat-template interpreter: Python counts,
// indexes and slices strings by code point and has its own idea of whitespace, line breaks
// and case, and templates written against Python's jinja2 rely on all of them.
//
// Bytes that are not valid UTF-8 survive a round trip: decode() maps each such byte b to the
// lone surrogate U+DC00+b (Python's "surrogateescape") and encode() maps it back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::chat::py {

std::u32string decode(std::string_view utf8);
std::string encode(std::u32string_view text);
void append_utf8(std::string& out, char32_t cp);

bool is_ascii(std::string_view s);
// len(s): number of code points.
int64_t length(std::string_view s);

// str.isspace() for one character (Unicode White_Space plus the ASCII separators 0x1C-0x1F).
bool is_space(char32_t c);
// The characters str.splitlines() breaks at (\r\n counts as one break).
bool is_line_break(char32_t c);

// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic; other scripts pass
// through unchanged (NOTE: Python maps all of Unicode; chat templates only case-map role
// names and keywords in practice).
std::u32string to_upper(std::u32string_view s);
std::u32string to_lower(std::u32string_view s);
bool is_cased(char32_t c);
bool is_upper_char(char32_t c);
bool is_lower_char(char32_t c);
bool is_alpha(char32_t c);
bool is_digit(char32_t c);      // str.isdigit / isdecimal / isnumeric: ASCII and fullwidth digits
bool is_word_char(char32_t c);  // regex \w

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // str.capitalize()
std::string title(std::string_view s);       // str.title()
std::string swapcase(std::string_view s);

// strip/lstrip/rstrip: `chars` unset strips whitespace, else any code point in `chars`.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right);

// str.split(sep, maxsplit) / str.rsplit; sep unset splits on whitespace runs.
// maxsplit < 0 means no limit. An empty `sep` is the caller's error to report.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);

// str.replace(old, new, count); count < 0 replaces all.
std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    int64_t count);

// str.find / rfind / count over the whole string; results in code points (-1: not found).
int64_t find(std::string_view s, std::string_view sub);
int64_t rfind(std::string_view s, std::string_view sub);
int64_t count(std::string_view s, std::string_view sub);

// Python's repr() of a str: quotes chosen as Python chooses them, escapes for
// non-printable characters.
std::string repr(std::string_view s);

// True when `s` is a valid Python identifier made of ASCII characters or any non-ASCII
// character (the template lexer's notion of a name).
bool is_identifier(std::string_view s);

}  // namespace kiln::chat::py
