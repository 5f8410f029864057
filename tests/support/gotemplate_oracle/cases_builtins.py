"""Corpus: the builtins (and or not eq ne lt le gt ge len index slice print println printf html js urlquery)."""

from __future__ import annotations

from tests.support.gotemplate_oracle import case as C

M = {"a": 1, "b": "bee", "f": 2.5, "z": 0, "e": "", "nul": None, "l": [1, "x", None, 2.5], "el": [],
     "m": {"k": "v", "n": {"deep": "d"}, "nul": None}, "s": "héllo", "t": True, "i": 2, "neg": -1}
SVC = {"$struct": "Service", "Name": "web", "Port": 80, "Tags": ["a"]}
SVC2 = {"$struct": "Service", "Name": "db", "Port": 80, "Tags": ["a"]}
NAMED = {"$struct": "Named", "Name": "n"}

LOGIC = [
    C("and-or-values", "{{and 1 2}} {{and 0 2}} {{and 1 \"\"}} {{or 0 \"\"}} {{or 0 \"x\"}} {{or \"\" 0 3 4}}"),
    C("and-or-short-circuit", "{{and 0 (fail \"not evaluated\")}} {{or 1 (fail \"not evaluated\")}}"),
    C("and-evaluates-error", "{{and 1 (fail \"evaluated\")}}"),
    C("and-or-piped", "{{1 | and 2}} {{0 | and 2}} {{0 | or \"\"}} {{\"p\" | or 0}}"),
    C("and-or-nil", "[{{and nil 1}}] [{{or nil nil}}] [{{or .nope 1}}] [{{and .nul 1}}]", M),
    C("and-no-args", "{{and}}"),
    C("or-only-final", "{{5 | or}}"),
    C("and-returns-struct", "{{and 1 .s}}", {"s": NAMED}),
    C("not-values", "{{not 0}} {{not 1}} {{not \"\"}} {{not nil}} {{not .nope}} {{not .l}} {{not .el}}", M),
    C("not-wrong-count", "{{not 1 2}}"),
    C("not-piped", "{{0 | not}}"),
    C("if-and-or", "{{if and .a (or .z .b)}}yes{{end}}", M),
]

COMPARE = [
    C("eq-basic", "{{eq 1 1}} {{eq 1 2}} {{eq \"a\" \"a\"}} {{eq 1.5 1.5}} {{eq true true}} {{eq .a 1}} "
                  "{{eq .b \"bee\"}}", M),
    C("eq-multi", "{{eq 3 1 2 3}} {{eq 4 1 2 3}} {{eq .b \"x\" \"bee\"}}", M),
    C("eq-int-float", "{{eq 1 1.0}}"),
    C("eq-string-int", "{{eq \"1\" 1}}"),
    C("eq-bool-int", "{{eq true 1}}"),
    C("eq-float-data-int-literal", "{{eq .f 2}}", {"f": 2.0}),
    C("eq-missing-arg", "{{eq 1}}"),
    C("eq-nil", "{{eq nil nil}} {{eq .nope nil}} {{eq .nul nil}} {{eq .nope 1}} {{eq 1 .nope}} {{eq .l nil}}", M),
    C("eq-lists", "{{eq .l .l}}", M),
    C("eq-maps", "{{eq .m .m}}", M),
    C("eq-list-map", "{{eq .l .m}}", M),
    C("eq-list-string", "{{eq .l \"x\"}}", M),
    C("eq-structs", "{{eq .p .p}} {{eq .p .q}}", {"p": NAMED, "q": {"$struct": "Named", "Name": "m"}}),
    C("eq-structs-uncomparable", "{{eq .p .p}}", {"p": SVC}),
    C("eq-uint8", "{{eq (index \"a\" 0) 97}} {{eq 97 (index \"a\" 0)}} {{eq (index \"a\" 0) (index \"b\" 0)}}"),
    C("ne-values", "{{ne 1 2}} {{ne \"a\" \"a\"}} {{ne 1 1.0}}"),
    C("lt-family", "{{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 2 3}} {{lt 1.5 2.5}} {{lt \"a\" \"b\"}} {{lt \"B\" \"a\"}} "
                   "{{lt \"é\" \"z\"}} {{gt \"ab\" \"a\"}} {{le -1 0}}"),
    C("lt-uint8-int", "{{lt (index \"a\" 0) 98}} {{gt 96 (index \"a\" 0)}} {{lt -1 (index \"a\" 0)}}"),
    C("lt-bool", "{{lt true false}}"),
    C("lt-int-float", "{{lt 1 2.0}}"),
    C("lt-nil", "{{lt nil 1}}"),
    C("lt-list", "{{lt .l .l}}", M),
    C("lt-missing", "{{lt .nope 1}}", M),
    C("le-incompatible", "{{le \"a\" 1}}"),
    C("gt-error", "{{gt 1 \"a\"}}"),
    C("ge-complex", "{{ge 1i 1i}}"),
    C("compare-wrong-count", "{{lt 1}}|{{ne 1 2 3}}"),
]

LEN_INDEX_SLICE = [
    C("len-values", "{{len .s}} {{len .l}} {{len .m}} {{len .el}} {{len \"\"}} {{len \"日本\"}} {{len .ts}}",
      {**M, "ts": {"$strings": ["a", "b", "c"]}}),
    C("bytes-builtins", "{{.b}} {{len .b}} {{index .b 1}} {{slice .b 1}} {{printf `%s|%q|%x` .b .b .b}} "
                        "{{range .b}}{{.}},{{end}} {{html .b}} {{printf `%T %T %T` (index .b 0) (slice .b 1) .b}} "
                        "{{range .b}}{{printf `%T` .}}{{end}} {{eq (index .b 0) 97}}", {"b": {"$bytes": "a<é"}}),
    C("len-nil", "{{len nil}}"),
    C("len-null", "{{len .nul}}", M),
    C("len-missing", "{{len .nope}}", M),
    C("len-int", "{{len 3}}"),
    C("len-struct", "{{len .s}}", {"s": SVC}),
    C("len-struct-ptr", "{{len .s}}", {"s": {**SVC, "$struct": "*Service"}}),
    C("index-list", "{{index .l 0}} {{index .l 1}} [{{index .l 2}}] {{index .l 3}}", M),
    C("index-nested", "{{index .m \"n\" \"deep\"}} {{index .ll 1 0}}", {**M, "ll": [[1], [2, 3]]}),
    C("index-map", "{{index .m \"k\"}} [{{index .m \"nope\"}}] [{{print (index .m \"nope\")}}]", M),
    C("index-no-indexes", "{{index .l}}", M),
    C("index-out-of-range", "{{index .l 4}}", M),
    C("index-at-len", "{{index .l 5}}", {"l": [1, 2, 3, 4, 5]}),
    C("index-negative", "{{index .l -1}}", M),
    C("index-float", "{{index .l 1.0}}", M),
    C("index-nil-index", "{{index .l nil}}", M),
    C("index-string-index", "{{index .l \"a\"}}", M),
    C("index-map-int-key", "{{index .m 1}}", M),
    C("index-map-nil-key", "{{index .m nil}}", M),
    C("index-string", "{{index \"abc\" 1}} {{index .s 1}} {{index .s 2}} "
                      "{{printf \"%c %T\" (index \"abc\" 0) (index \"abc\" 0)}}", M),
    C("index-string-end", "{{index \"abc\" 3}}"),
    C("index-nil", "{{index nil 1}}"),
    C("index-missing", "{{index .nope 1}}", M),
    C("index-null-elem", "{{index .l 2 0}}", M),
    C("index-int", "{{index 3 0}}"),
    C("index-struct", "{{index .s 0}}", {"s": SVC}),
    C("index-int-keyed-map", "{{index .im 1}} [{{index .im 2}}]", {"im": {"$imap": {"1": "one"}}}),
    C("index-int-keyed-map-string", "{{index .im \"1\"}}", {"im": {"$imap": {"1": "one"}}}),
    C("index-typed", "{{index .ts 1}} {{index .sm \"k\"}} [{{index .sm \"x\"}}] {{index .ti 2}}",
      {"ts": {"$strings": ["a", "b"]}, "sm": {"$smap": {"k": "v"}}, "ti": {"$ints": [5, 6, 7]}}),
    C("index-piped", "{{1 | index .l}}", M),
    C("slice-string", "{{slice \"abcdef\"}} {{slice \"abcdef\" 2}} {{slice \"abcdef\" 1 3}} [{{slice \"abc\" 3}}]"),
    C("slice-string-mid-rune", "{{slice .s 0 2}}|{{slice .s 2}}|{{printf \"%q %x\" (slice .s 0 2) (slice .s 1 2)}}", M),
    C("slice-list", "{{slice .l 1}} {{slice .l 1 3}} {{slice .l 0 0}} {{slice .l 1 2 3}}", M),
    C("slice-typed", "{{slice .ts 1}} {{printf \"%T\" (slice .ts 1)}}", {"ts": {"$strings": ["a", "b", "c"]}}),
    C("slice-3-string", "{{slice \"abc\" 0 1 2}}"),
    C("slice-too-many", "{{slice .l 0 1 2 3}}", M),
    C("slice-out-of-range", "{{slice .l 0 5}}", M),
    C("slice-inverted", "{{slice .l 3 1}}", M),
    C("slice-inverted-3", "{{slice .l 0 3 2}}", M),
    C("slice-nil", "{{slice nil 1}}"),
    C("slice-missing", "{{slice .nope}}", M),
    C("slice-int", "{{slice 3 1}}"),
    C("slice-map", "{{slice .m 1}}", M),
    C("slice-iface-index", "{{slice .s .i}}", M),
    C("slice-var-index", "{{$i := .i}}{{slice .s $i}}", M),
    C("slice-paren-index", "{{slice .s (.i)}}", M),
    C("slice-float-index", "{{slice .l 1.0}}", M),
    C("slice-range-elem-index", "{{range .l}}{{slice \"abcdef\" .}}{{end}}", {"l": [1]}),
]

PRINT = [
    C("print-spacing", "{{print 1 2}}|{{print \"a\" \"b\"}}|{{print 1 \"a\" 2}}|{{print \"a\" 1 \"b\"}}|"
                       "{{print 1.5 true nil}}"),
    C("print-values", "{{print .l}}|{{print .m}}|{{print .nope}}|{{print .nul}}|{{print}}", M),
    C("println", "{{println 1 \"a\" 2}}{{println}}{{println .l}}", M),
    C("printf-basic", "{{printf \"%d-%s-%v-%.2f\" 1 \"a\" .l 3.14159}}", M),
    C("printf-no-format", "{{printf}}"),
    C("printf-format-not-string", "{{printf 1}}"),
    C("printf-format-from-data", "{{printf .fmt .a}}", {"fmt": "<%03d>", "a": 7}),
    C("printf-format-data-int", "{{printf .a}}", M),
    C("printf-piped", "{{.a | printf \"%d!\"}} {{\"x\" | printf \"%s%s\" \"y\"}}", M),
]

_SPECIAL = "<a href=\"x\" title='t'>&amp; \x00 = \\ \t\n\r \u2028 é 日本 🎉 \x7f</a>"
ESCAPE = [
    C("html-specials", "{{html .s}}", {"s": _SPECIAL}),
    C("js-specials", "{{js .s}}", {"s": _SPECIAL}),
    C("urlquery-specials", "{{urlquery .s}}", {"s": _SPECIAL + " ~-_.!*'();:@&=+$,/?#[]"}),
    C("escape-control-chars", "{{js .s}}|{{html .s}}|{{urlquery .s}}",
      {"s": "".join(chr(c) for c in range(0, 32)) + "\u0085\u00ad\u200b\ufeff"}),
    C("escape-multi-args", "{{html \"<\" 1 \">\"}}|{{js 1 2}}|{{urlquery \"a b\" \"c\"}}|{{html 1 \"&\"}}"),
    C("escape-non-strings", "{{html .l}}|{{js .m}}|{{urlquery 1.5}}|{{html true}}", M),
    C("escape-nil", "{{html nil}}|{{js .nope}}|{{urlquery .nul}}|{{html}}", M),
    C("escape-piped", "{{.s | html}}|{{.s | js}}|{{.s | urlquery}}", {"s": "<&'\">"}),
    C("escape-invalid-utf8", "{{js (slice .s 0 2)}}|{{html (slice .s 0 2)}}|{{urlquery (slice .s 0 2)}}", M),
    C("escape-struct", "{{html .p}}", {"p": NAMED}),
    C("escape-unicode15", "{{js .s}}|{{printf `%q %+q %x` .s .s .s}}", {"s": "\U0001fae8\U0001e030\u0cf3\U00031350"}),
    C("escape-emoji-and-nonprint", "{{js .s}}", {"s": "a\u061cb\u2029c\U000e0001d\U0001f600"}),
]

CASES = LOGIC + COMPARE + LEN_INDEX_SLICE + PRINT + ESCAPE
