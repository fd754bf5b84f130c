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
    /// A call that does not fit the producer's transaction state.
    InvalidTxnState,
    UnknownGroup,
    /// A bug in caldo (a panic), caught before it could take the process down.
    Internal,
}

impl Code {
    pub const ALL: [Code; 16] = [
        Code::InvalidTopic,
        Code::UnknownTopic,
        Code::TopicExists,
        Code::InvalidPartition,
        Code::MessageTooLarge,
        Code::InvalidArg,
        Code::Closed,
        Code::Corrupt,
        Code::Io,
        Code::InvalidGroup,
        Code::Fenced,
        Code::OffsetOutOfRange,
        Code::GroupActive,
        Code::InvalidTxnState,
        Code::UnknownGroup,
        Code::Internal,
    ];

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
            Code::InvalidTxnState => "ERR_INVALID_TXN_STATE",
            Code::UnknownGroup => "ERR_UNKNOWN_GROUP",
            Code::Internal => "ERR_INTERNAL",
        }
    }
}

#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub message: String,
    /// For `Code::Io`: the OS error's name (`ENOSPC`, `EROFS`, ...), when known.
    pub errno: Option<&'static str>,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            errno: None,
        }
    }

    /// An I/O failure, with what was being done when it happened.
    pub fn io(context: impl fmt::Display, err: io::Error) -> Self {
        Error {
            errno: errno_name(&err),
            ..Error::new(Code::Io, format!("{context}: {err}"))
        }
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

/// The names of the OS errors a user can act on.
fn errno_name(err: &io::Error) -> Option<&'static str> {
    use rustix::io::Errno;
    const NAMES: [(Errno, &str); 12] = [
        (Errno::NOSPC, "ENOSPC"),
        (Errno::DQUOT, "EDQUOT"),
        (Errno::ROFS, "EROFS"),
        (Errno::ACCESS, "EACCES"),
        (Errno::PERM, "EPERM"),
        (Errno::NOENT, "ENOENT"),
        (Errno::EXIST, "EEXIST"),
        (Errno::NOTDIR, "ENOTDIR"),
        (Errno::ISDIR, "EISDIR"),
        (Errno::MFILE, "EMFILE"),
        (Errno::NFILE, "ENFILE"),
        (Errno::IO, "EIO"),
    ];
    let errno = Errno::from_io_error(err)?;
    NAMES.iter().find(|(e, _)| *e == errno).map(|(_, n)| *n)
}
