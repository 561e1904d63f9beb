; Scopes and definitions, for editors' go-to-definition and reference highlighting.

[(program) (let) (letrec) (lambda) (loop) (function_definition)] @local.scope

(signature name: (symbol) @local.definition.function)
(signature param: (symbol) @local.definition.parameter)
(parameters param: (symbol) @local.definition.parameter)
(function_binding name: (symbol) @local.definition.function)
(value_definition name: (symbol) @local.definition.constant)
(binding name: (symbol) @local.definition.var)

(symbol) @local.reference
