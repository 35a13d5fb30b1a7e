//! A step's outputs reach the templates of later steps however they are read: by name, by
//! subscript, or by looping over `steps` (the run keeps in memory only the outputs some
//! template reads, so each way of reading must count as a read).

mod common;

use common::Test;

const RUNBOOK: &str = r#"name: outputs
steps:
  - id: a
    exec: { run: "echo from-a" }
  - id: unread
    exec: { run: "echo from-unread" }
  - id: by-name
    needs: [a]
    exec: { run: "echo '{{ steps.a.stdout | trim }}' > by-name.out" }
  - id: by-item
    needs: [a, unread]
    exec: { run: "echo '{{ steps['a'].stdout | trim }}' > by-item.out" }
  - id: by-loop
    needs: [a, unread, by-name, by-item]
    exec: { run: "{% for id in steps | sort %}echo {{ id }}={{ steps[id].stdout | trim }} >> by-loop.out; {% endfor %}" }
"#;

#[test]
fn outputs_read_by_name_subscript_or_loop_are_all_there() {
    let test = Test::new()
        .file("runbooks/outputs.yaml", RUNBOOK)
        .args(&["run", "outputs"]);
    test.run().expect_code(0);
    let read = |name| String::from_utf8(test.read(name)).unwrap();
    assert_eq!(read("by-name.out"), "from-a\n");
    assert_eq!(read("by-item.out"), "from-a\n");
    // Every step finished before `by-loop` (its needs) is in `steps`, the unread one too.
    assert_eq!(
        read("by-loop.out"),
        "a=from-a\nby-item=\nby-name=\nunread=from-unread\n"
    );
}
