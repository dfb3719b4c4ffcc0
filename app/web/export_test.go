package web

// Exported for the web_test package.
var AuditResourceURL = auditResourceURL
var Sentence = sentence
