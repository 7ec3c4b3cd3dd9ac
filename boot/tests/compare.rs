//! `compare`, `explain` and `--svg` on every shared sample (mm/tests/samples, tests/corpus) and on a saved QEMU
//! `-m 4000M` serial log (boot/tests/data, the kernel's own console under `holes=upstream`), without QEMU. The
//! profile path (QEMU once per policy) is exercised by `memlab compare --profile m4000` (README) and by the
//! `profile_compare_m4000` test below, which is ignored by default because it boots QEMU eight times.

use std::path::{Path, PathBuf};
use std::process::Command;

use boot::compare::{self, run_log_policy, run_log_policy_limited, PolicyRun, Source};
use boot::linkmap::{diff_links, LinkMap, PageLinks};
use boot::svg;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn shared_logs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in ["mm/tests/samples", "tests/corpus"] {
        for e in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "txt") {
                v.push(p);
            }
        }
    }
    v.sort();
    assert!(v.len() >= 19, "{v:?}");
    v
}

const M4000: &str = include_str!("data/qemu-m4000-bios-serial.log");

fn memlab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memlab")).args(args).output().expect("memlab runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A strict-enough XML well-formedness check: balanced, properly nested elements, quoted attributes, only the
/// five predefined entities (and numeric ones), one root. Returns the element names in document order.
fn well_formed(xml: &str) -> Result<Vec<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut roots = 0;
    let b = xml.as_bytes();
    let mut i = 0;
    let check_text = |t: &str| -> Result<(), String> {
        let mut rest = t;
        while let Some(a) = rest.find('&') {
            let end =
                rest[a..].find(';').ok_or_else(|| format!("bare & in {:?}", &rest[a..a + 10.min(rest.len() - a)]))?;
            let ent = &rest[a + 1..a + end];
            if !matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos") && !ent.starts_with('#') {
                return Err(format!("unknown entity &{ent};"));
            }
            rest = &rest[a + end..];
        }
        if t.contains('<') {
            return Err("< in text".into());
        }
        Ok(())
    };
    while i < b.len() {
        if b[i] != b'<' {
            let next = xml[i..].find('<').map_or(xml.len(), |n| i + n);
            let text = &xml[i..next];
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            check_text(text)?;
            i = next;
            continue;
        }
        let close = xml[i..].find('>').ok_or("unclosed tag")? + i;
        let tag = &xml[i + 1..close];
        i = close + 1;
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or_else(|| format!("</{name}> without an open element"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name = body.split_whitespace().next().ok_or("empty tag")?.to_string();
        // Attributes: name="value" pairs, values without < or raw &.
        let mut attrs = body[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs.find("=\"").ok_or_else(|| format!("unquoted attribute in <{name}>: {attrs}"))?;
            let val_end = attrs[eq + 2..].find('"').ok_or("unterminated attribute")? + eq + 2;
            check_text(&attrs[eq + 2..val_end])?;
            attrs = attrs[val_end + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        names.push(name.clone());
        if !self_closing {
            stack.push(name);
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(names)
}

fn check_svg(s: &str, rows: usize) {
    let names = well_formed(s).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    assert_eq!(names[0], "svg");
    assert!(names.iter().any(|n| n == "title"));
    assert_eq!(s.matches(r#"class="row""#).count(), rows);
    for needle in [r#"<pattern id="hatch""#, r#"id="legend""#, r#"class="section""#, r#"class="addresses""#] {
        assert!(s.contains(needle), "{needle} missing");
    }
    // Where rsvg-convert is installed, the picture must rasterize.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let base = std::env::temp_dir().join(format!("memlab-svg-{}-{}", std::process::id(), n));
    let (svg_file, png_file) = (base.with_extension("svg"), base.with_extension("png"));
    std::fs::write(&svg_file, s).unwrap();
    if let Ok(st) = Command::new("rsvg-convert").arg("-o").arg(&png_file).arg(&svg_file).status() {
        assert!(st.success(), "rsvg-convert rejects {}", svg_file.display());
        let png = std::fs::read(&png_file).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{} bytes", png.len());
        let _ = std::fs::remove_file(&png_file);
    }
    let _ = std::fs::remove_file(&svg_file);
}

#[test]
fn compare_explain_and_svg_on_every_shared_log() {
    for path in shared_logs() {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into());
        let name = path.display().to_string();
        // Walkers off (limit 0) here: they are the slow part and are covered on the m4000 log below.
        let runs: Vec<PolicyRun> = mm::policy::POLICIES
            .iter()
            .map(|p| run_log_policy_limited(&text, p.name(), 0).unwrap_or_else(|e| panic!("{name}: {e}")))
            .collect();
        let source = Source::Log(name.clone());
        let out = compare::render(&source, &runs);
        assert!(out.contains("hole pages (total)") && out.contains("pfn ranges whose links differ"), "{name}:\n{out}");
        let json = compare::to_json(&source, &runs);
        assert_eq!(json["policies"].as_array().unwrap().len(), mm::policy::POLICIES.len());
        // Every policy sees the same pfn_valid pages and holes: only links differ.
        let holes: Vec<u64> = runs.iter().map(|r| r.map.hole_pages()).collect();
        assert!(holes.iter().all(|h| *h == holes[0]), "{name}: {holes:?}");
        for r in &runs {
            assert_eq!(r.map.hole_pages(), r.sim.verification.hole_pages, "{name} {}", r.policy);
            let valid: u64 = r.map.runs.iter().map(|x| x.pages()).sum();
            assert_eq!(valid, r.sim.verification.valid_pages, "{name} {}", r.policy);
            let bad = r.map.bad_pages();
            let v = &r.sim.verification;
            use mm::verify::FindingKind as K;
            assert!(bad >= v.count(K::ZoneDoesNotSpan).max(v.count(K::Poisoned)), "{name} {}", r.policy);
        }
        let rows: Vec<svg::Row> = runs.iter().map(svg::Row::of_run).collect();
        check_svg(&svg::render(&name, &rows), runs.len());
        // explain: the first pfn, the first hole, the last valid pfn, a pfn without a struct page.
        let up = &runs[mm::policy::POLICIES.iter().position(|p| p.name() == "upstream").unwrap()];
        let first_hole = up.map.runs.iter().find(|r| !r.memory).map(|r| r.start);
        let last = up.map.runs.last().unwrap().end;
        for pfn in [0, first_hole.unwrap_or(1), last - 1, last + (1 << 20)] {
            let e = boot::explain::explain(up, pfn);
            assert!(e.contains(&format!("pfn {:#x} ", pfn)) && e.contains("rule:"), "{name} {pfn:#x}:\n{e}");
        }
    }
}

#[test]
fn m4000_tail_hole_upstream_vs_zeroed() {
    let up = run_log_policy(M4000, "upstream", true).unwrap();
    let zeroed = run_log_policy(M4000, "zeroed", true).unwrap();
    let no_tail = run_log_policy(M4000, "zeroed-no-tail", true).unwrap();
    let strict = run_log_policy(M4000, "strict", true).unwrap();
    let diffs = diff_links(&[&up.map, &zeroed.map, &no_tail.map, &strict.map]);
    let z = |nid, zone: mm::zones::ZoneType| Some(PageLinks::Linked { nid, zone: zone as u8 });
    use mm::zones::ZoneType::*;
    assert_eq!(diffs.len(), 2, "{diffs:?}");
    // The 32 pages below 3 GiB that the firmware reserved: upstream gives the zone above (Normal), zeroed DMA.
    assert_eq!((diffs[0].start, diffs[0].end), (0xbffe0, 0xc0000));
    assert_eq!(diffs[0].links, vec![z(0, Normal), z(0, Dma), z(0, Dma), z(0, Dma32)]);
    // The tail of section 39: RAM ends at 0x13a000.
    assert_eq!((diffs[1].start, diffs[1].end), (0x13a000, 0x140000));
    assert_eq!(diffs[1].links, vec![z(0, Normal), z(0, Dma), Some(PageLinks::Poisoned), z(0, Normal)]);
    assert_eq!(up.map.hole_pages(), 24706);
    assert_eq!(up.sim.verification.count(mm::verify::FindingKind::ZoneDoesNotSpan), 24609);
    assert_eq!(strict.sim.verification.total(), 0);
    // The walkers: pfn 0 trips the pre-6e2b7044c199 fast_isolate_around under upstream, not under strict.
    let prefix = |r: &PolicyRun| r.walkers.iter().find(|w| w.walker == "fast-isolate-prefix").unwrap().clone();
    assert_eq!(prefix(&up).violations, 1);
    assert_eq!(prefix(&up).violation_pfns, vec![0]);
    assert_eq!(prefix(&strict).violations, 0);
    // The text says so.
    let out = compare::render(&Source::Log("m4000".into()), &[up, zeroed]);
    assert!(out.contains("[0x13a000, 0x140000) 24576 pages: node 0 Normal: upstream | node 0 DMA: zeroed"), "{out}");
    assert!(out.contains("node 0 zone Normal span"), "{out}");
}

#[test]
fn explain_m4000_known_pfns() {
    let up = run_log_policy(M4000, "upstream", false).unwrap();
    let e = boot::explain::explain(&up, 0x13a000);
    assert!(e.contains("section:    39 [0x138000, 0x140000)"), "{e}");
    assert!(e.contains("subsection: 16"), "{e}");
    assert!(e.contains("memory:     no"), "{e}");
    assert!(e.contains("links:      node 0 zone Normal: zone_spans_pfn false"), "{e}");
    assert!(e.contains("[reserved]"), "{e}");
    assert!(e.contains("the tail"), "{e}");
    let e = boot::explain::explain(&up, 0x100000);
    assert!(e.contains("memory:     yes") && e.contains("memmap_init_range gives node 0 zone Normal"), "{e}");
    let e = boot::explain::explain(&up, 0xc0000);
    assert!(e.contains("!pfn_valid"), "{e}");
    let z = run_log_policy(M4000, "zeroed-no-tail", false).unwrap();
    assert!(boot::explain::explain(&z, 0x13ffff).contains("POISONED"));
}

#[test]
fn large_log_compare_is_fast_and_svg_is_compressed() {
    let path = root().join("tests/corpus/hp-dl585g7-opteron6344-1t-8node-linux-5.19.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let t = std::time::Instant::now();
    let runs: Vec<PolicyRun> =
        mm::policy::POLICIES.iter().map(|p| run_log_policy(&text, p.name(), false).unwrap()).collect();
    let maps: Vec<&LinkMap> = runs.iter().map(|r| &r.map).collect();
    let d = diff_links(&maps);
    let secs = t.elapsed().as_secs_f64();
    assert!(secs < 10.0, "1 TiB compare of 8 policies took {secs:.1} s");
    assert_eq!(d.iter().map(|x| x.end - x.start).sum::<u64>(), 12786, "{d:?}");
    let rows: Vec<svg::Row> = runs.iter().map(svg::Row::of_run).collect();
    let s = svg::render("hp 1 TiB", &rows);
    check_svg(&s, 8);
    // 8192 sections, but only a few dozen cells per row.
    let cells = s.matches(r#"class="section""#).count();
    assert!(cells < 8 * 40, "{cells} cells");
    // And a 128 MiB machine is one cell or two.
    let tiny = "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\nBIOS-e820: [mem 0x0000000000100000-0x0000000007fdffff] usable\n";
    let r = run_log_policy(tiny, "upstream", true).unwrap();
    let s = svg::render("tiny", &[svg::Row::of_run(&r)]);
    check_svg(&s, 1);
    assert_eq!(s.matches(r#"class="section""#).count(), 1);
}

#[test]
fn cli_compare_explain_svg_and_errors() {
    let dir = std::env::temp_dir().join(format!("memlab-compare-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("m4000.log");
    std::fs::write(&log, M4000).unwrap();
    let svg_path = dir.join("m.svg");
    let (code, out, err) = memlab(&[
        "compare",
        log.to_str().unwrap(),
        "--policies",
        "upstream,zeroed",
        "--svg",
        svg_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("24576 pages: node 0 Normal: upstream | node 0 DMA: zeroed"), "{out}");
    check_svg(&std::fs::read_to_string(&svg_path).unwrap(), 2);
    let (code, out, _) = memlab(&["compare", log.to_str().unwrap(), "--policies=strict", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["policies"][0]["hole_pages"], 24706);
    let (code, out, _) = memlab(&["explain", "0x13a000", log.to_str().unwrap(), "--policy", "zeroed"]);
    assert_eq!(code, 0);
    assert!(out.contains("links:      node 0 zone DMA"), "{out}");
    let (code, _, err) = memlab(&["sim", log.to_str().unwrap(), "--svg", svg_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    check_svg(&std::fs::read_to_string(&svg_path).unwrap(), 1);
    // One exit-status table (boot::exit): usage 64, bad input 65, unreadable input 66, unwritable output 73.
    let bad_map = dir.join("bad.log");
    std::fs::write(&bad_map, "Linux version 6.1.0\nnothing about memory\n").unwrap();
    for (args, status) in [
        (&["compare", log.to_str().unwrap(), "--policies", "nope"][..], 64),
        (&["compare", "--profile", "nope"], 64),
        (&["compare"], 64),
        (&["explain", "0xzz", log.to_str().unwrap()], 64),
        (&["explain", "0x1"], 64),
        (&["explain", "0x1", log.to_str().unwrap(), "--policy", "nope"], 64),
        (&["explain", "99999999999999999999", log.to_str().unwrap()], 64),
        (&["sim", log.to_str().unwrap(), "--frobnicate"], 64),
        (&["sim", bad_map.to_str().unwrap()], 65),
        (&["compare", bad_map.to_str().unwrap()], 65),
        (&["compare", "/nonexistent/log"], 66),
        (&["explain", "0x1", "/nonexistent/log"], 66),
        (&["sim", "/nonexistent/log"], 66),
        (&["sim", log.to_str().unwrap(), "--svg", "/nonexistent/dir/x.svg"], 73),
    ] {
        let (code, out, err) = memlab(args);
        assert_eq!(code, status, "{args:?}: {out}{err}");
        assert!(err.starts_with("memlab") && !err.contains("panicked"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "boots QEMU eight times (about a minute on an idle 2-core machine); run by hand"]
fn profile_compare_m4000() {
    let (code, out, err) = memlab(&["compare", "--profile", "m4000"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("replay agrees (hole pages)"), "{out}");
    assert!(!out.contains("REPLAY DIFFERS"), "{out}");
    assert!(out.contains("[0x13a000, 0x140000) 24576 pages"), "{out}");
}
