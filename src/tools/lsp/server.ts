// `neuralc lsp --stdio`: a Language Server Protocol server. Diagnostics as you type (the front end's,
// and the shape checker's where the file declares its input shapes with `; @inputs` lines), hover,
// completion, go to definition, quick fixes from the diagnostics' fixes, and inlay hints of shapes.
import {
  CodeActionKind,
  CompletionItemKind,
  createConnection,
  DiagnosticSeverity,
  InlayHintKind,
  MarkupKind,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type CodeAction,
  type CompletionItem,
  type Connection,
  type Diagnostic as LspDiagnostic,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Span } from '../../ast';
import type { Diagnostic, Fix } from '../../diagnostics';
import type { Datum } from '../../frontend/datum';
import { parseSyntax } from '../../frontend/parser';
import { readTree } from '../../frontend/reader';
import { RESERVED } from '../../frontend/scope';
import { arityText, primitive, PRIMITIVES, showShape, type Shape } from '../../ops';
import { shapeWords } from '../../ops/shape-words';
import { analyse, readDirectives, spanKey, type Analysis } from '../analysis';
import { languageSpec } from '../spec';
import { allBindings, datumAt, visibleAt, type NameBinding } from './scope';

interface DocumentState {
  analysis: Analysis;
  forms: Datum[];
}

const FORMS = new Map(languageSpec().forms.map((f) => [f.name, f]));

/** Everything the server knows about one text. */
export function analyseDocument(text: string, file: string): DocumentState {
  const directives = readDirectives(text);
  const analysis = analyse(text, file, directives.declarations);
  analysis.diagnostics = [...directives.diagnostics, ...analysis.diagnostics];
  // The reader's view, for names while the program has errors; no view of a text that cannot be read safely.
  const forms = analysis.diagnostics.some((d) => d.code === 'E0001' || d.code === 'E0009')
    ? []
    : readTree(parseSyntax(text), analysis.source).forms;
  return { analysis, forms };
}

const severity = (d: Diagnostic) => (d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning);

function range(doc: TextDocument, span: Span | undefined) {
  return span
    ? { start: doc.positionAt(span.start), end: doc.positionAt(span.end) }
    : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
}

function toLsp(doc: TextDocument, d: Diagnostic): LspDiagnostic {
  const message = d.hint ? `${d.message}\nhelp: ${d.hint}` : d.message;
  return {
    range: range(doc, d.span),
    severity: severity(d),
    code: d.code,
    source: 'neural',
    message,
    ...(d.fixes && { data: { fixes: d.fixes } }),
  };
}

const shapeOfSpan = (state: DocumentState, span: Span | undefined): Shape | undefined =>
  span ? state.analysis.shapes?.get(spanKey(span)) : undefined;

/** A binding's shape: a loop variable's is at its name, other bindings' at their value. */
const bindingShape = (state: DocumentState, b: NameBinding): Shape | undefined =>
  shapeOfSpan(state, b.span) ?? shapeOfSpan(state, b.value);

function declaredShape(state: DocumentState, name: string): { role: string; shape?: Shape } | undefined {
  const { inputs, params } = state.analysis.declarations;
  if (inputs?.has(name)) return { role: 'input', shape: inputs.get(name) };
  if (params?.has(name)) return { role: 'param', shape: params.get(name) };
  if (state.analysis.program?.inputs.includes(name)) return { role: 'input' };
  if (state.analysis.program?.params.includes(name)) return { role: 'param' };
  return undefined;
}

const code = (text: string) => `\`${text}\``;

function hoverText(state: DocumentState, offset: number): { text: string; span: Span } | undefined {
  const { datum } = datumAt(state.forms, offset);
  if (!datum) return undefined;
  if (datum.kind === 'symbol') {
    const name = datum.name;
    const binding =
      visibleAt(state.forms, offset).find((b) => b.name === name) ??
      allBindings(state.forms).find((b) => b.span.start === datum.span.start);
    const where = (b: NameBinding) => state.analysis.source.position(b.span.start);
    if (binding) {
      const shape = bindingShape(state, binding);
      const p = where(binding);
      const params = binding.params ? ` (${binding.params.join(' ')})` : '';
      return {
        span: datum.span,
        text: `${code(name + params)}: ${binding.kind} bound at ${p.line}:${p.column}${shape ? `, ${showShape(shape)}` : ''}`,
      };
    }
    const form = FORMS.get(name);
    if (form) return { span: datum.span, text: `${code(form.usage)}\n\n${form.meaning}` };
    const p = primitive(name);
    if (p)
      return {
        span: datum.span,
        text: `${code(name)}: ${arityText(p)} argument(s)\n\n${p.doc}\n\nShape: ${shapeWords(p)}\n\nExample: ${code(p.example)}`,
      };
    const declared = declaredShape(state, name);
    if (declared)
      return {
        span: datum.span,
        text: `${code(name)}: ${declared.role}${declared.shape ? `, ${showShape(declared.shape)}` : ''}`,
      };
    if (name === 'pi') return { span: datum.span, text: `${code('pi')}: the constant π` };
    return undefined;
  }
  const shape = shapeOfSpan(state, datum.span);
  return shape ? { span: datum.span, text: `shape: ${showShape(shape)}` } : undefined;
}

function completions(state: DocumentState, offset: number): CompletionItem[] {
  const items = new Map<string, CompletionItem>();
  const add = (item: CompletionItem) => items.has(item.label) || items.set(item.label, item);
  for (const b of visibleAt(state.forms, offset))
    add({
      label: b.name,
      kind: b.kind === 'function' ? CompletionItemKind.Function : CompletionItemKind.Variable,
      detail: b.kind,
    });
  const { inputs, params } = state.analysis.declarations;
  for (const name of [...(inputs?.keys() ?? []), ...(state.analysis.program?.inputs ?? [])])
    add({ label: name, kind: CompletionItemKind.Variable, detail: 'input' });
  for (const name of [...(params?.keys() ?? []), ...(state.analysis.program?.params ?? [])])
    add({ label: name, kind: CompletionItemKind.Variable, detail: 'param' });
  for (const f of FORMS.values())
    add({ label: f.name, kind: CompletionItemKind.Keyword, detail: f.usage, documentation: f.meaning });
  for (const p of PRIMITIVES)
    add({
      label: p.name,
      kind: CompletionItemKind.Function,
      detail: `${arityText(p)} argument(s)`,
      documentation: p.doc,
    });
  add({ label: 'pi', kind: CompletionItemKind.Constant, detail: 'the constant π' });
  return [...items.values()];
}

function definition(state: DocumentState, offset: number): Span | undefined {
  const { datum } = datumAt(state.forms, offset);
  if (datum?.kind !== 'symbol' || RESERVED.has(datum.name)) return undefined;
  return visibleAt(state.forms, offset).find((b) => b.name === datum.name)?.span;
}

function quickFixes(doc: TextDocument, diagnostics: LspDiagnostic[]): CodeAction[] {
  return diagnostics.flatMap((d) =>
    ((d.data as { fixes?: Fix[] } | undefined)?.fixes ?? []).map((fix) => ({
      title: fix.title,
      kind: CodeActionKind.QuickFix,
      diagnostics: [d],
      isPreferred: fix.safe,
      edit: { changes: { [doc.uri]: fix.edits.map((e) => ({ range: range(doc, e.span), newText: e.text })) } },
    })),
  );
}

export function startServer(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const states = new Map<string, DocumentState>();
  const state = (uri: string): { doc: TextDocument; state: DocumentState } | undefined => {
    const doc = documents.get(uri);
    if (!doc) return undefined;
    let s = states.get(uri);
    if (!s) states.set(uri, (s = analyseDocument(doc.getText(), uri)));
    return { doc, state: s };
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      completionProvider: { triggerCharacters: ['('] },
      definitionProvider: true,
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
      inlayHintProvider: true,
    },
    serverInfo: { name: 'neuralc lsp' },
  }));

  documents.onDidChangeContent(({ document }) => {
    const s = analyseDocument(document.getText(), document.uri);
    states.set(document.uri, s);
    void connection.sendDiagnostics({
      uri: document.uri,
      version: document.version,
      diagnostics: s.analysis.diagnostics.map((d) => toLsp(document, d)),
    });
  });
  documents.onDidClose(({ document }) => {
    states.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  connection.onHover(({ textDocument, position }) => {
    const s = state(textDocument.uri);
    const hover = s && hoverText(s.state, s.doc.offsetAt(position));
    return hover
      ? { contents: { kind: MarkupKind.Markdown, value: hover.text }, range: range(s.doc, hover.span) }
      : null;
  });
  connection.onCompletion(({ textDocument, position }) => {
    const s = state(textDocument.uri);
    return s ? completions(s.state, s.doc.offsetAt(position)) : [];
  });
  connection.onDefinition(({ textDocument, position }) => {
    const s = state(textDocument.uri);
    const span = s && definition(s.state, s.doc.offsetAt(position));
    return span ? { uri: textDocument.uri, range: range(s.doc, span) } : null;
  });
  connection.onCodeAction(({ textDocument, context }) => {
    const s = state(textDocument.uri);
    return s ? quickFixes(s.doc, context.diagnostics) : [];
  });
  connection.languages.inlayHint.on(({ textDocument, range: visible }) => {
    const s = state(textDocument.uri);
    if (!s) return [];
    const from = s.doc.offsetAt(visible.start);
    const to = s.doc.offsetAt(visible.end);
    return allBindings(s.state.forms).flatMap((b) => {
      const shape = bindingShape(s.state, b);
      if (!shape || b.span.end < from || b.span.end > to) return [];
      return [
        {
          position: s.doc.positionAt(b.span.end),
          label: `: ${showShape(shape)}`,
          kind: InlayHintKind.Type,
          paddingLeft: false,
        },
      ];
    });
  });

  documents.listen(connection);
  connection.listen();
}

/** Serves on stdin/stdout until the client exits. */
export function serveStdio(): void {
  startServer(createConnection(ProposedFeatures.all, process.stdin, process.stdout));
}
