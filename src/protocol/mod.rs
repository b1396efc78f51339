//! Line protocols sessions may speak. The engine stays byte-oriented; front ends use these
//! to build input and to understand output.

pub mod stream_json;
