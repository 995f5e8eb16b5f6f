//! The one error type of the core. Every message is written for the person who caused it.

/// Everything that can go wrong in digitlens, with a message fit to show a user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer stack that cannot be built; `layer` is its index in the stack.
    #[error("layer {} ({name}): {message}", layer + 1)]
    Spec { layer: usize, name: String, message: String },
    /// A stack-level problem not tied to one layer (empty stack, wrong output size...).
    #[error("{0}")]
    Stack(String),
    /// A malformed IDX (MNIST) file.
    #[error("bad IDX file: {0}")]
    Idx(String),
    /// A weights file that does not fit.
    #[error("cannot load weights: {0}")]
    Weights(String),
    /// Bad image handed to the preprocessing.
    #[error("bad image: {0}")]
    Image(String),
    /// Bad training settings or data.
    #[error("bad training settings: {0}")]
    Config(String),
    /// A question an attribution map cannot answer (unknown method, digit out of range...).
    #[error("cannot explain: {0}")]
    Explain(String),
    /// A failure inside candle; should not happen for valid inputs.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
