//! The detection pipeline on raw bytes: every line handed to `Pipeline::handle` as the
//! plugin does, then the decisions drained. A pipeline is built per input (cheap: no
//! model without the `ml` feature) so that each input is reproducible on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suriguard_detect::pipeline::{Pipeline, PipelineConfig};

fuzz_target!(|data: &[u8]| {
    let (mut p, note) = Pipeline::build(&PipelineConfig::default());
    assert!(
        note.is_none(),
        "default config built a model note: {note:?}"
    );
    for line in data.split(|&b| b == b'\n') {
        let _ = p.handle(line);
        for d in p.drain_decisions() {
            let _ = format!("{d:?}");
        }
    }
    p.finish();
    let _ = p.drain_decisions().count();
    let _ = p.stats_now();
    let _ = p.baselines();
});
