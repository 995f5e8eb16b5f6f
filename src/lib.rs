//! digitlens: a handwritten-digit CNN in candle that trains, predicts and shows its
//! activations natively and in the browser.

pub mod analysis;
pub mod augment;
pub mod class_file;
pub mod data;
pub mod error;
pub mod explain;
pub mod kernels;
pub mod memory;
pub mod network;
pub mod optim;
pub mod parallel;
pub mod preprocess;
pub mod projection;
pub mod recognizer;
pub mod rng;
pub mod robustness;
pub mod spec;
pub mod topk;
pub mod train;
pub mod visualize;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
