"""Upload decoding for the dashboard: lives in :mod:`mimi.images` (the core, shared with the CLI);
re-exported here for the pages and older callers."""

from mimi.images import (ACCEPTED_FORMATS, MAX_PIXELS, MAX_UPLOAD_BYTES, MIN_SIDE, UPLOAD_EXTENSIONS, DecodedImage,
                         UploadError, decode_upload, to_model_input)

__all__ = ["ACCEPTED_FORMATS", "MAX_PIXELS", "MAX_UPLOAD_BYTES", "MIN_SIDE", "UPLOAD_EXTENSIONS", "DecodedImage",
           "UploadError", "decode_upload", "to_model_input"]
