// The Go oracle for portside.gotemplate: runs template cases through Go's own text/template and prints what
// Go answers, so the Python engine can be compared with Go byte for byte.
//
// Input (stdin): a JSON array of cases {name, template, data, options, delims, extra, exec}.
// Output (stdout): a JSON array of results {name, phase, out | out_b64, err}, phase being "parse", "exec" or
// "ok"; out is what Execute wrote (also before an error), base64 when it is not valid UTF-8.
// With -lines: one case per input line, one result per output line, answered as each line arrives (one
// process serves a whole test session). With -unicode: Go's unicode.IsPrint and identifier-character
// (letter, digit, '_') sets as JSON lists of [first, last] code point ranges.
//
// Data is decoded from JSON with integers kept as int (Go's decoder would make them float64), and a few
// markers give typed Go values: {"$struct": "Service"|"*Service"|"Node"|"Named"|"Pair", ...fields},
// {"$strings": [...]}, {"$ints": [...]}, {"$smap": {...}}, {"$imap": {"1": ...}}, {"$func": "add"},
// {"$bytes": "text"}.
// Only the standard library is used.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

type Node struct {
	Name    string
	Address string
	Meta    map[string]string
}

type Service struct {
	ID      string
	Name    string
	Address string
	Port    int
	Tags    []string
	Meta    map[string]string
	Weight  float64
	Node    Node
	Extra   interface{}
	private string
}

func (s Service) URL() string { return fmt.Sprintf("%s:%d", s.Address, s.Port) }

func (s Service) HasTag(t string) bool {
	for _, x := range s.Tags {
		if x == t {
			return true
		}
	}
	return false
}

func (s Service) Greet(greeting string, n int) string {
	return strings.Repeat(greeting+" "+s.Name+"!", n)
}

func (s Service) Fail() (string, error) { return "", errors.New("service failure") }

type Named struct{ Name string }

func (n Named) String() string { return "Named(" + n.Name + ")" }

type Pair struct {
	Key   string
	Value interface{}
}

type Case struct {
	Name     string          `json:"name"`
	Template string          `json:"template"`
	Data     json.RawMessage `json:"data"`
	Options  []string        `json:"options"`
	Delims   []string        `json:"delims"`
	Extra    [][2]string     `json:"extra"`
	Exec     string          `json:"exec"`
}

type Result struct {
	Name   string `json:"name"`
	Phase  string `json:"phase"`
	Out    string `json:"out,omitempty"`
	OutB64 string `json:"out_b64,omitempty"`
	Err    string `json:"err,omitempty"`
}

var dataFuncs = map[string]interface{}{
	"add":   func(a, b int) int { return a + b },
	"upper": strings.ToUpper,
	"fail":  func(msg string) (string, error) { return "", errors.New(msg) },
	"join":  func(sep string, items ...string) string { return strings.Join(items, sep) },
	"hello": func() string { return "hello" },
}

func funcs(t *template.Template) template.FuncMap {
	return template.FuncMap{
		"upper":   strings.ToUpper,
		"add":     func(a, b int) int { return a + b },
		"join":    func(sep string, items ...string) string { return strings.Join(items, sep) },
		"fail":    func(msg string) (string, error) { return "", errors.New(msg) },
		"panicky": func() string { panic("boom") },
		"pair":    func(a, b interface{}) []interface{} { return []interface{}{a, b} },
		"list":    func(items ...interface{}) []interface{} { return items },
		"nilret":  func() interface{} { return nil },
		"strs":    func() []string { return []string{"b", "a"} },
		"smap":    func() map[string]string { return map[string]string{"k": "v", "a": "b"} },
		"seq": func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out
		},
		"sum": func(xs ...int) int {
			t := 0
			for _, x := range xs {
				t += x
			}
			return t
		},
		"typed": func(b bool, i int, f float64, s string) string {
			return fmt.Sprintf("%v %v %v %q", b, i, f, s)
		},
		"defsvc": func() *Service {
			return &Service{Name: "def", Address: "198.18.0.8", Port: 81, Tags: []string{"d"}}
		},
		"svc": func(name string) *Service {
			return &Service{Name: name, Address: "198.18.0.9", Port: 8080, Tags: []string{"t"}}
		},
		"exec": func(name string, data ...interface{}) (string, error) {
			var dot interface{}
			if len(data) == 1 {
				dot = data[0]
			} else if len(data) > 1 {
				return "", fmt.Errorf("exec: wrong number of arguments, expected 1 or 2, but got %d", len(data)+1)
			}
			var b bytes.Buffer
			if err := t.ExecuteTemplate(&b, name, dot); err != nil {
				return "", err
			}
			return b.String(), nil
		},
	}
}

func convert(v interface{}) interface{} {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return int(i)
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, e := range x {
			out[i] = convert(e)
		}
		return out
	case map[string]interface{}:
		if len(x) == 1 || x["$struct"] != nil {
			if typed, ok := marker(x); ok {
				return typed
			}
		}
		out := make(map[string]interface{}, len(x))
		for k, e := range x {
			out[k] = convert(e)
		}
		return out
	}
	return v
}

func remarshal(v interface{}, into interface{}) {
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, into)
	}
	if err != nil {
		panic(err)
	}
}

func marker(x map[string]interface{}) (interface{}, bool) {
	if name, ok := x["$struct"].(string); ok {
		fields := map[string]interface{}{}
		for k, v := range x {
			if k != "$struct" {
				fields[k] = v
			}
		}
		return makeStruct(name, fields), true
	}
	for k, v := range x {
		switch k {
		case "$strings":
			var out []string
			remarshal(v, &out)
			return out, true
		case "$ints":
			var out []int
			remarshal(v, &out)
			return out, true
		case "$smap":
			var out map[string]string
			remarshal(v, &out)
			return out, true
		case "$imap":
			out := map[int]interface{}{}
			for key, e := range v.(map[string]interface{}) {
				i, _ := strconv.Atoi(key)
				out[i] = convert(e)
			}
			return out, true
		case "$func":
			return dataFuncs[v.(string)], true
		case "$bytes":
			return []byte(v.(string)), true
		}
	}
	return nil, false
}

func makeStruct(name string, fields map[string]interface{}) interface{} {
	extra, hasExtra := fields["Extra"]
	delete(fields, "Extra")
	switch strings.TrimPrefix(name, "*") {
	case "Service":
		s := &Service{}
		remarshal(fields, s)
		if hasExtra {
			s.Extra = convert(extra)
		}
		if strings.HasPrefix(name, "*") {
			return s
		}
		return *s
	case "Node":
		var n Node
		remarshal(fields, &n)
		return n
	case "Named":
		var n Named
		remarshal(fields, &n)
		return n
	case "Pair":
		p := Pair{Key: fields["Key"].(string), Value: convert(fields["Value"])}
		return p
	}
	panic("unknown struct " + name)
}

func decodeData(raw json.RawMessage) interface{} {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		panic(err)
	}
	return convert(v)
}

func run(c Case) (res Result) {
	res.Name = c.Name
	t := template.New(c.Name)
	if len(c.Delims) == 2 {
		t.Delims(c.Delims[0], c.Delims[1])
	}
	t.Funcs(funcs(t))
	for _, o := range c.Options {
		t.Option(o)
	}
	if _, err := t.Parse(c.Template); err != nil {
		res.Phase, res.Err = "parse", err.Error()
		return
	}
	for _, e := range c.Extra {
		if _, err := t.New(e[0]).Parse(e[1]); err != nil {
			res.Phase, res.Err = "parse", err.Error()
			return
		}
	}
	var b bytes.Buffer
	var err error
	if c.Exec != "" {
		err = t.ExecuteTemplate(&b, c.Exec, decodeData(c.Data))
	} else {
		err = t.Execute(&b, decodeData(c.Data))
	}
	res.Phase = "ok"
	if err != nil {
		res.Phase, res.Err = "exec", err.Error()
	}
	if utf8.Valid(b.Bytes()) {
		res.Out = b.String()
	} else {
		res.OutB64 = base64.StdEncoding.EncodeToString(b.Bytes())
	}
	return
}

func serveLines() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		var c Case
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			fmt.Fprintln(os.Stderr, "oracle: bad input line:", err)
			os.Exit(2)
		}
		if err := enc.Encode(run(c)); err != nil {
			os.Exit(1)
		}
		out.Flush()
	}
}

func runeRanges(in func(rune) bool) [][2]rune {
	var out [][2]rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !in(r) {
			continue
		}
		if n := len(out); n > 0 && out[n-1][1] == r-1 {
			out[n-1][1] = r
		} else {
			out = append(out, [2]rune{r, r})
		}
	}
	return out
}

func printUnicode() {
	tables := map[string][][2]rune{
		"print": runeRanges(unicode.IsPrint),
		"alnum": runeRanges(func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }),
	}
	if err := json.NewEncoder(os.Stdout).Encode(tables); err != nil {
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-lines" {
		serveLines()
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "-unicode" {
		printUnicode()
		return
	}
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, "oracle: bad input:", err)
		os.Exit(2)
	}
	results := make([]Result, len(cases))
	for i, c := range cases {
		results[i] = run(c)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "oracle:", err)
		os.Exit(1)
	}
}
