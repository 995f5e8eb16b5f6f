//! The same equivalence checks as tests/kernels.rs, in the browser, where the SIMD128
//! micro-kernel replaces the portable one (`wasm-pack test --headless --chrome`).
#![cfg(target_arch = "wasm32")]

mod kernel_cases;
use kernel_cases::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn conv_matches_candle_forward_and_backward_in_wasm() {
    for (i, case) in conv_cases(20, 11).iter().enumerate() {
        check_conv(case, 300 + i as u64);
    }
}

#[wasm_bindgen_test]
fn max_pool_matches_candle_in_wasm() {
    for (i, case) in pool_cases(20, 12).iter().enumerate() {
        check_pool(case, 400 + i as u64);
    }
}

#[wasm_bindgen_test]
fn relu_matches_candle_in_wasm() {
    check_relu(14);
}

#[wasm_bindgen_test]
fn gradients_through_a_chain_match_candle_in_wasm() {
    check_chain(13);
}

#[wasm_bindgen_test]
fn other_dtypes_fall_back_to_candle_in_wasm() {
    check_fallback();
}

#[wasm_bindgen_test]
fn dense_layer_for_one_image_matches_candle_in_wasm() {
    check_linear(15);
}

#[wasm_bindgen_test]
fn conv_follows_weights_changed_in_place_in_wasm() {
    check_conv_after_weight_update(16);
}
