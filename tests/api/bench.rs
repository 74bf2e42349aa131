//! The benchmarks run in their quick form so they never rot (they assert nothing about speed).

use std::process::Command;

use herald_test_support::succeeded;

#[test]
fn bench_all_quick_runs_every_benchmark() {
    let out = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "all", "--quick"])
        .output()
        .unwrap();
    let stdout = succeeded(&out);
    for bench in [
        "create",
        "counts",
        "dispatch",
        "pacing",
        "callbacks",
        "memory",
        "startup",
        "many-campaigns",
        "append",
    ] {
        assert!(
            stdout.contains(&format!("== bench {bench} --quick")),
            "{bench} missing:\n{stdout}"
        );
    }
    // Every bench printed its JSON line.
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("{\"bench\""))
            .count(),
        9
    );
}
