// lsconfig parses Logstash pipeline files with github.com/breml/logstash-config (a PEG grammar of Logstash's
// configuration language, Apache-2.0) and prints each file's plugin tree as JSON, for the tests to inspect.
// A file that does not parse makes it print the parser's error and exit 1.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	config "github.com/breml/logstash-config"
	"github.com/breml/logstash-config/ast"
)

type node struct {
	Plugin     string            `json:"plugin,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	If         string            `json:"if,omitempty"`
	Then       []node            `json:"then,omitempty"`
	ElseIf     []branch          `json:"else_if,omitempty"`
	Else       []node            `json:"else,omitempty"`
}

type branch struct {
	Condition string `json:"condition"`
	Block     []node `json:"block"`
}

func convert(blocks []ast.BranchOrPlugin) []node {
	out := []node{}
	for _, block := range blocks {
		switch b := block.(type) {
		case ast.Plugin:
			attributes := map[string]string{}
			for _, attribute := range b.Attributes {
				if attribute != nil {
					attributes[attribute.Name()] = attribute.ValueString()
				}
			}
			out = append(out, node{Plugin: b.Name(), Attributes: attributes})
		case ast.Branch:
			n := node{If: b.IfBlock.Condition.String(), Then: convert(b.IfBlock.Block), Else: convert(b.ElseBlock.Block)}
			for _, elseIf := range b.ElseIfBlock {
				n.ElseIf = append(n.ElseIf, branch{Condition: elseIf.Condition.String(), Block: convert(elseIf.Block)})
			}
			out = append(out, n)
		}
	}
	return out
}

func sections(sections []ast.PluginSection) []node {
	out := []node{}
	for _, section := range sections {
		out = append(out, convert(section.BranchOrPlugins)...)
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lsconfig FILE...")
		os.Exit(2)
	}
	result := map[string]map[string][]node{}
	for _, path := range os.Args[1:] {
		parsed, err := config.ParseFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(1)
		}
		conf := parsed.(ast.Config)
		result[path] = map[string][]node{
			"input":  sections(conf.Input),
			"filter": sections(conf.Filter),
			"output": sections(conf.Output),
		}
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
