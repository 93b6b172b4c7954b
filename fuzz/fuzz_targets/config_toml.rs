//! The configuration file: TOML syntax and top-level names (`ConfigFile::parse`), then
//! every section reader the library crates hold, as the programs call them: the
//! plugin's (`GuardConfig::from_file`: `state-dir`, `[network]`, `[detect]`, `[model]`,
//! `[decisions]`, `[enforce]`) and the reporting ones (`ReportConfig::from_file`:
//! `[alerts]`, `[misp]`, `[mitigate]`, `[notify]`, `[console]`). rulesync's and
//! suriguardctl's own readers live in their binary crates and are not reachable here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use suriguard_config::ConfigFile;
use suriguard_detect::PipelineConfig;
use suriguard_guard::GuardConfig;
use suriguard_report::ReportConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = ConfigFile::parse(text) else {
        return;
    };
    let _ = file.state_dir();
    let _ = PipelineConfig::from_file(&file);
    if let Ok(g) = GuardConfig::from_file(&file) {
        let _ = g.allowlist_file();
        // What the plugin does with it next: the network model and a pipeline. The
        // allowlist file is left out: reading files named by the input is not the
        // parser's business (and `state-dir = "/dev"` would read devices).
        let mut pipeline = g.pipeline.clone();
        pipeline.network.allowlist_file = None;
        let _ = pipeline.network.model();
        let _ = suriguard_detect::Pipeline::build(&pipeline);
    }
    if let Ok(r) = ReportConfig::from_file(&file) {
        let _ = r.console.validate();
        let _ = r.misp.validate();
    }
});
