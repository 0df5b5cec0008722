// kof-gotemplate: Go's text/template with sprig v3.3.0's functions (the sprig and mergo versions kcm v1.10.0's
// go.mod pins), the oracle for kofsim's Go-template evaluator (kofsim/kofsim/k0rdent/gotemplate.py).
// Reads [{"template": "...", "data": {...}}, ...] on stdin and writes [{"out": "..."} or {"error": "..."}, ...].
// missingkey=error, as Sveltos executes templates.
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

type testCase struct {
	Template string                 `json:"template"`
	Data     map[string]interface{} `json:"data"`
}

type answer struct {
	Out   *string `json:"out,omitempty"`
	Error string  `json:"error,omitempty"`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	answers := make([]answer, 0, len(cases))
	for _, c := range cases {
		tpl, err := template.New("t").Option("missingkey=error").Funcs(sprig.TxtFuncMap()).Parse(c.Template)
		if err != nil {
			answers = append(answers, answer{Error: err.Error()})
			continue
		}
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, c.Data); err != nil {
			answers = append(answers, answer{Error: err.Error()})
			continue
		}
		out := buf.String()
		answers = append(answers, answer{Out: &out})
	}
	if err := json.NewEncoder(os.Stdout).Encode(answers); err != nil {
		panic(err)
	}
}
