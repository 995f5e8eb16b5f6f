//! The shipped model against the bars: MNIST test accuracy, and the robustness report
//! (each transformation within 3 points of clean, except the 8×8 source).
#![cfg(not(target_arch = "wasm32"))]

use digitlens::data::Dataset;
use digitlens::preprocess::Steps;
use digitlens::recognizer::Recognizer;
use digitlens::robustness::{exempt, Collection, RobustnessRun};
use digitlens::train::evaluate;
use std::path::Path;

/// Test digits per digit the report is checked on: 1,000 readings per transformation, so one
/// reading is 0.1 points.
const PER_DIGIT: usize = 100;
/// How far below clean accuracy a transformation may fall.
const BAR: f64 = 0.03;

fn bundled_test() -> Dataset {
    Dataset::load_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/data").as_path(), "t10k").unwrap()
}

#[test]
fn shipped_model_reaches_99_4_percent_on_the_mnist_test_set() {
    let test = bundled_test();
    let evaluation = evaluate(Recognizer::pretrained().unwrap().network(), &test).unwrap();
    assert_eq!(evaluation.count, 10_000);
    assert!(evaluation.accuracy >= 0.994, "MNIST test accuracy {:.4}", evaluation.accuracy);
}

#[test]
fn shipped_model_holds_up_under_every_transformation_of_the_report() {
    let recognizer = Recognizer::pretrained().unwrap();
    let test = Collection::mnist(&bundled_test()).balanced(PER_DIGIT);
    let results = RobustnessRun::transformed(test, Steps::default()).run(recognizer.network()).unwrap();
    let clean = results.iter().find(|r| r.name == "clean").expect("a clean row");
    assert_eq!(clean.count, 10 * PER_DIGIT);
    let failing: Vec<String> = results
        .iter()
        .filter(|r| !exempt(r.transformation) && r.accuracy < clean.accuracy - BAR)
        .map(|r| format!("{} {:.1}% (clean {:.1}%)", r.name, r.accuracy * 100.0, clean.accuracy * 100.0))
        .collect();
    assert!(failing.is_empty(), "more than 3 points below clean: {failing:?}");
}
