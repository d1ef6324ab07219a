import type { UploadedFile } from '@ledger/application';
import { type KycDocumentType, kycDocumentTypes, kycLimits } from '@ledger/contracts';
import { checkImage, sniffType } from '@ledger/documents';
import type { FastifyRequest } from 'fastify';
import { invalid } from '../../ledger-http.js';
import { problem } from '../../problem.js';

/**
 * The upload of POST /api/verification, read and checked before anything is stored: the
 * parts stream in under @fastify/multipart's limits (a file past 16 MB is cut there and
 * refused, so at most the limit is ever held), each file's type is decided by its first
 * bytes (magic numbers; the client's name and content type are never trusted), and an
 * image's declared size is read from its header, so a decompression bomb is refused
 * without being decoded.
 */

export interface Upload {
  documentType: KycDocumentType;
  file: UploadedFile;
  selfie: UploadedFile | null;
}

const contentTypes = { png: 'image/png', jpeg: 'image/jpeg', pdf: 'application/pdf' } as const;

const tooLarge = () =>
  problem(413, 'file_too_large', `A file is larger than ${kycLimits.fileBytesMax} bytes (16 MB)`);

/** Multipart errors of @fastify/multipart, by code, as the contract's problems. */
function uploadProblem(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  switch (code) {
    case 'FST_REQ_FILE_TOO_LARGE':
      return tooLarge();
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return invalid('body', 'at most the parts documentType, file and selfie');
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return problem(415, 'unsupported_media_type', 'Send multipart/form-data');
    case 'FST_PROTO_VIOLATION':
    case 'FST_MP_PREMATURE_CLOSE':
      return invalid('body', 'not a complete multipart form');
    default:
      return error;
  }
}

function checked(bytes: Buffer, part: 'file' | 'selfie'): UploadedFile {
  if (bytes.length === 0) throw invalid(`body.${part}`, 'the file is empty');
  const type = sniffType(bytes.subarray(0, 16));
  if (type === null || (part === 'selfie' && type === 'pdf')) {
    throw problem(
      415,
      'unsupported_media_type',
      part === 'selfie'
        ? 'The selfie must be a PNG or JPEG image'
        : 'The document must be a PNG, JPEG or PDF file',
    );
  }
  if (type !== 'pdf') {
    const image = checkImage(bytes, type);
    if (!image.ok) {
      if (image.reason === 'too_many_pixels') {
        throw problem(413, 'file_too_large', 'The image has more pixels than a document scan needs');
      }
      throw problem(
        415,
        'unsupported_media_type',
        `The ${part} is not a readable ${type.toUpperCase()} image`,
      );
    }
  }
  return { bytes, contentType: contentTypes[type] };
}

export async function readUpload(request: FastifyRequest): Promise<Upload> {
  let documentType: string | undefined;
  let file: Buffer | undefined;
  let selfie: Buffer | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file' && part.fieldname !== 'selfie') {
          throw invalid(
            `body.${part.fieldname.slice(0, 40)}`,
            'unknown file part: give file and selfie only',
          );
        }
        const bytes = await part.toBuffer();
        if (part.file.truncated) throw tooLarge();
        if (part.fieldname === 'file') file = bytes;
        else selfie = bytes;
      } else if (part.fieldname === 'documentType') {
        documentType = typeof part.value === 'string' ? part.value : undefined;
      } else {
        throw invalid(`body.${part.fieldname.slice(0, 40)}`, 'unknown field: give documentType');
      }
    }
  } catch (error) {
    throw uploadProblem(error);
  }
  if (!kycDocumentTypes.includes(documentType as KycDocumentType)) {
    throw invalid('body.documentType', `one of ${kycDocumentTypes.join(', ')}`);
  }
  if (file === undefined) throw invalid('body.file', 'the document file is required');
  return {
    documentType: documentType as KycDocumentType,
    file: checked(file, 'file'),
    selfie: selfie === undefined ? null : checked(selfie, 'selfie'),
  };
}
