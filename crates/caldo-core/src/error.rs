use std::fmt;
use std::io;

/// Stable error codes; the Node layer exposes them as `err.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidTopic,
    UnknownTopic,
    TopicExists,
    InvalidPartition,
    MessageTooLarge,
    InvalidArg,
    Closed,
    Corrupt,
    Io,
    InvalidGroup,
    Fenced,
    OffsetOutOfRange,
    GroupActive,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidTopic => "ERR_INVALID_TOPIC",
            Code::UnknownTopic => "ERR_UNKNOWN_TOPIC",
            Code::TopicExists => "ERR_TOPIC_EXISTS",
            Code::InvalidPartition => "ERR_INVALID_PARTITION",
            Code::MessageTooLarge => "ERR_MESSAGE_TOO_LARGE",
            Code::InvalidArg => "ERR_INVALID_ARG",
            Code::Closed => "ERR_CLOSED",
            Code::Corrupt => "ERR_CORRUPT",
            Code::Io => "ERR_IO",
            Code::InvalidGroup => "ERR_INVALID_GROUP",
            Code::Fenced => "ERR_FENCED",
            Code::OffsetOutOfRange => "ERR_OFFSET_OUT_OF_RANGE",
            Code::GroupActive => "ERR_GROUP_ACTIVE",
        }
    }
}

#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// An I/O failure, with what was being done when it happened.
    pub fn io(context: impl fmt::Display, err: io::Error) -> Self {
        Error::new(Code::Io, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Adds context to I/O results.
pub trait IoContext<T> {
    fn ctx(self, context: impl fmt::Display) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::io(context, e))
    }
}
