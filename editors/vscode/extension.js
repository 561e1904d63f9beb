// Starts `neuralc lsp --stdio` (or the command in the setting neural.server.command) for .neural files.
'use strict';
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration('neural').get('server.command');
  client = new LanguageClient('neural', 'neural', { command, args }, { documentSelector: [{ language: 'neural' }] });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client && client.stop();
}

module.exports = { activate, deactivate };
