/**
 * Identity documents (issue #16): what a document is by its content, its machine-readable
 * zone, the OCR that reads it and the face on it. No I/O of the bank's own: callers hand in
 * bytes; the worker runs these and records the outcome through the application.
 */

export * from './face.js';
export * from './mrz.js';
export * from './ocr.js';
export * from './pdf.js';
export * from './sniff.js';
