; Syntax highlighting for the neural language.

[(line_comment) (block_comment)] @comment

(number) @number
(invalid_number) @error
(boolean) @constant.builtin
((symbol) @constant.builtin
  (#eq? @constant.builtin "pi"))

["define" "let" "let*" "letrec" "lambda" "loop"] @keyword
["if" "cond" "else"] @keyword.conditional
"recur" @keyword.repeat

(signature name: (symbol) @function)
(signature param: (symbol) @variable.parameter)
(parameters param: (symbol) @variable.parameter)
(function_binding name: (symbol) @function)
(value_definition name: (symbol) @constant)
(binding name: (symbol) @variable)

(call operator: (symbol) @function.call)

["(" ")" "[" "]"] @punctuation.bracket
