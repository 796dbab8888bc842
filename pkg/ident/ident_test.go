package ident

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"cust-1", true},
		{"müller@example.com", true},
		{"顧客-42", true},
		{"p_1.2:3/4", true},
		{"", false},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{strings.Repeat("é", 129), false},
		{"a\x00b", false},
		{"a b", false},
		{"a\u00a0b", false},         // no-break space
		{"abc\u202egnp.exe", false}, // RIGHT-TO-LEFT OVERRIDE
		{"a\u200bb", false},         // zero-width space
		{"a\u200db", false},         // zero-width joiner
		{"\ufeffa", false},          // BOM
		{"a\u2028b", false},         // line separator
		{"a\xffb", false},           // invalid UTF-8
		{"\xc0\x80", false},         // overlong NUL
		{"\xed\xa0\x80", false},     // a UTF-16 surrogate in UTF-8
		{"a\ufffdb", false},
		{"a\ue000b", false},     // private use
		{"a\U000e0001b", false}, // language tag
		{"a\u0378b", false},     // unassigned
	} {
		if got := Check(tc.id, 128); (got == "") != tc.ok {
			t.Errorf("Check(%q) = %q; want ok=%v", tc.id, got, tc.ok)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"cust-1", "a\u202eb", "\xc0\x80", "", "顧客"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s, 128) != "" {
			return
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, " \x00\t\n\r\u202e\u200b\ufffd") || utf8.RuneCountInString(s) > 128 {
			t.Fatalf("accepted %q", s)
		}
	})
}
