//! The custom conv, max-pool, ReLU and one-image dense kernels (src/kernels) against candle's
//! built-in ops, natively: outputs and gradients with respect to input, weights and bias, on
//! the canonical shapes and on random ones with any stride, 'same' padding and odd sizes.
#![cfg(not(target_arch = "wasm32"))]

mod kernel_cases;
use kernel_cases::*;

#[test]
fn conv_matches_candle_forward_and_backward() {
    for (i, case) in conv_cases(60, 1).iter().enumerate() {
        check_conv(case, 100 + i as u64);
    }
}

#[test]
fn max_pool_matches_candle_and_routes_gradients_to_the_maximum() {
    for (i, case) in pool_cases(40, 2).iter().enumerate() {
        check_pool(case, 200 + i as u64);
    }
}

#[test]
fn relu_matches_candle_forward_and_backward() {
    check_relu(6);
}

#[test]
fn gradients_through_a_conv_pool_conv_chain_match_candle() {
    check_chain(3);
}

#[test]
fn other_dtypes_fall_back_to_candle() {
    check_fallback();
}

#[test]
fn dense_layer_for_one_image_matches_candle() {
    check_linear(7);
}

#[test]
fn conv_follows_weights_changed_in_place() {
    check_conv_after_weight_update(8);
}
