//! The HTTP/1.1 wire: request heads, bodies, responses, connections.

pub mod body;
pub mod chunked;
pub mod conn;
pub mod head;
pub mod io;
pub mod response;
