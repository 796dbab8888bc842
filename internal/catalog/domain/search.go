package domain

import (
	"slices"
	"strings"
	"unicode"
)

// Search indexing: a product's name is split into terms (maximal runs of
// letters and digits, lower-cased); every prefix of a term from
// MinPrefix to MaxPrefix runes is indexed. A query matches a product when
// every query term is a prefix of one of the product's name terms, so
// "red sho" finds "Red Shoes".
const (
	MinPrefix      = 2
	MaxPrefix      = 12
	MaxQueryTerms  = 8
	MaxQueryLength = 100
)

// Terms splits s into lower-cased search terms, in order, without duplicates.
func Terms(s string) []string {
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := fields[:0]
	for _, f := range fields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// IndexPrefixes lists the prefixes of name's terms that the search index
// holds, without duplicates.
func IndexPrefixes(name string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range Terms(name) {
		r := []rune(t)
		for n := MinPrefix; n <= len(r) && n <= MaxPrefix; n++ {
			p := string(r[:n])
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// IndexKey is the index prefix a query term is looked up under: the term
// cut to MaxPrefix runes; "" for a term shorter than MinPrefix, which
// only filters.
func IndexKey(term string) string {
	r := []rune(term)
	if len(r) < MinPrefix {
		return ""
	}
	if len(r) > MaxPrefix {
		r = r[:MaxPrefix]
	}
	return string(r)
}

// Matches reports whether every query term is a prefix of one of name's
// terms.
func Matches(name string, query []string) bool {
	if len(query) == 0 {
		return true
	}
	terms := Terms(name)
	for _, q := range query {
		found := false
		for _, t := range terms {
			if strings.HasPrefix(t, q) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
