package tokensource

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsNameTestsThatExist checks that every test, example, benchmark and
// fuzz target the documents name in backquotes is defined in some module of
// the repository, so that a renamed test cannot leave a claim unbacked.
func TestDocsNameTestsThatExist(t *testing.T) {
	defined := map[string]bool{}
	funcs := regexp.MustCompile(`(?m)^func ((?:Test|Example|Benchmark|Fuzz)\w*)\(`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		for _, m := range funcs.FindAllSubmatch(data, -1) {
			defined[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	docs, _ := filepath.Glob("docs/*.md")
	docs = append(docs, "README.md", "BENCHMARKS.md")
	named := regexp.MustCompile("`((?:Test|Benchmark|Fuzz)\\w+|Example\\w*)`")
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllSubmatch(data, -1) {
			if !defined[string(m[1])] {
				t.Errorf("%s names %s, which no test file defines", doc, m[1])
			}
		}
	}
}
