use super::*;
use vmm_sys_util::tempdir::TempDir;

const FULL: &str = r#"{
    "kernel": "/images/bzImage",
    "initramfs": "/images/guest.cpio",
    "cmdline": "console=ttyS0 quiet",
    "vcpus": 4,
    "memory": "2G",
    "numa": [
        {"node": 0, "vcpus": "0-1", "memory": "1G", "host_node": 0, "host_cpus": "0-1,4"},
        {"node": 1, "vcpus": [3, 2], "memory": 1024, "host_node": 1, "policy": "preferred", "host_cpus": "any"}
    ],
    "vmm_cpus": [7, 6],
    "memory_backing": "thp",
    "prefault": true,
    "print_placement_on_exit": true,
    "api_sock": "/run/tern.sock",
    "name": "db-2",
    "console_filter": "off",
    "console_rate": "64K",
    "console_limit": 1000000,
    "seccomp": "log"
}"#;

fn parse(text: &str) -> Result<ConfigFile, ConfigFileError> {
    ConfigFile::parse(text, Path::new("/etc/tern/vm.json"))
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(file) => format!("parsed: {file:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn reads_every_key() {
    let file = parse(FULL).unwrap();
    let node = |node, vcpus: &[u32], host_node, policy, host_cpus| GuestNodeSpec {
        node,
        vcpus: vcpus.to_vec(),
        memory: MemSize::from_mib(1024),
        host_node: Some(host_node),
        policy,
        host_cpus: Some(host_cpus),
    };
    let expected = ConfigFile {
        kernel: Some("/images/bzImage".into()),
        initramfs: Some("/images/guest.cpio".into()),
        cmdline: Some("console=ttyS0 quiet".into()),
        vcpus: Some(4),
        memory: Some(MemSize::from_mib(2048)),
        numa: Some(vec![
            node(
                0,
                &[0, 1],
                0,
                HostPolicy::Bind,
                HostCpus::List(vec![0, 1, 4]),
            ),
            node(1, &[2, 3], 1, HostPolicy::Preferred, HostCpus::Any),
        ]),
        host_node: None,
        host_cpus: None,
        vmm_cpus: Some(vec![6, 7]),
        memory_backing: Some(MemoryBacking::Thp),
        prefault: true,
        print_placement_on_exit: true,
        api_sock: Some("/run/tern.sock".into()),
        name: Some("db-2".parse().unwrap()),
        auto_balance: false,
        console: ConsoleSettings {
            filter: Some(ConsoleFilter::Off),
            rate: Some(ByteCount(65536)),
            limit: Some(ByteCount(1_000_000)),
        },
        seccomp: Some(sandbox::Mode::Log),
        disks: None,
        nets: None,
    };
    assert_eq!(file, expected);
    let file = parse(r#"{"host_node": 1, "memory_backing": "hugetlb"}"#).unwrap();
    assert_eq!(file.host_node, Some(1));
    assert_eq!(file.memory_backing, Some(MemoryBacking::Hugetlb));
    assert_eq!(parse("{}").unwrap(), ConfigFile::default());
    let file = parse(r#"{"host_node": 1, "host_cpus": [3, 2, 3], "vmm_cpus": "0"}"#).unwrap();
    assert_eq!(file.host_cpus, Some(HostCpus::List(vec![2, 3])));
    assert_eq!(file.vmm_cpus, Some(vec![0]));
    let file = parse(r#"{"host_node": 1, "host_cpus": "any"}"#).unwrap();
    assert_eq!(file.host_cpus, Some(HostCpus::Any));
}

#[test]
fn disks_and_nets_are_lists_of_objects() {
    let file = parse(
        r#"{"disks": [{"path": "root.img", "readonly": true, "guest_node": 1}],
            "nets": [{"tap": "tap0", "mac": "52:54:00:00:00:01"}]}"#,
    )
    .unwrap();
    let disks = file.disks.unwrap();
    assert_eq!(disks[0].path, Path::new("/etc/tern/root.img"));
    assert!(disks[0].readonly);
    assert_eq!(disks[0].guest_node, Some(1));
    let nets = file.nets.unwrap();
    assert_eq!(nets[0].mac, Some([0x52, 0x54, 0, 0, 0, 1]));
    assert!(parse_err(r#"{"disks": [{"path": "a", "cache": "none"}]}"#)
        .contains("unknown field `cache`"));
    assert!(parse_err(r#"{"nets": [{"tap": "t", "mac": "nope"}]}"#).contains("bad mac 'nope'"));
}

#[test]
fn sizes_are_strings_or_mib() {
    let mib = |json: &str| parse(json).unwrap().memory.map(MemSize::mib);
    assert_eq!(mib(r#"{"memory": "256M"}"#), Some(256));
    assert_eq!(mib(r#"{"memory": "1G"}"#), Some(1024));
    assert_eq!(mib(r#"{"memory": "512"}"#), Some(512));
    assert_eq!(mib(r#"{"memory": 512}"#), Some(512));
    let err = parse_err(r#"{"memory": "lots"}"#);
    assert!(err.contains("'lots' is not a memory size"), "{err}");
    let err = parse_err(r#"{"memory": 1.5}"#);
    assert!(err.contains("expected a memory size"), "{err}");
    let err = parse_err(r#"{"memory": 18446744073709551615}"#);
    assert!(err.contains("too large"), "{err}");
}

#[test]
fn relative_paths_are_relative_to_the_file() {
    let file =
        parse(r#"{"kernel": "bzImage", "initramfs": "../guest.cpio", "api_sock": "t.sock"}"#)
            .unwrap();
    assert_eq!(file.kernel, Some("/etc/tern/bzImage".into()));
    assert_eq!(file.initramfs, Some("/etc/tern/../guest.cpio".into()));
    assert_eq!(file.api_sock, Some("/etc/tern/t.sock".into()));
    let file = ConfigFile::parse(r#"{"kernel": "bzImage"}"#, Path::new("vm.json")).unwrap();
    assert_eq!(file.kernel, Some("bzImage".into()));
    let file = ConfigFile::parse(r#"{"kernel": "bzImage"}"#, Path::new("vms/a.json")).unwrap();
    assert_eq!(file.kernel, Some("vms/bzImage".into()));
}

#[test]
fn unknown_keys_are_named() {
    let err = parse_err(r#"{"kernel": "/k", "vcpu": 2}"#);
    assert!(
        err.starts_with("config file /etc/tern/vm.json: unknown field `vcpu`, expected one of"),
        "{err}"
    );
    let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "cpus": "0"}]}"#);
    assert!(
        err.starts_with("config file /etc/tern/vm.json: unknown field `cpus`, expected one of"),
        "{err}"
    );
    assert!(err.contains("`host_node`"), "{err}");
}

#[test]
fn wrong_types_and_values_give_the_position() {
    let err = parse_err("{\n  \"vcpus\": \"two\"\n}");
    assert!(
        err.starts_with("config file /etc/tern/vm.json: invalid type"),
        "{err}"
    );
    assert!(err.ends_with("at line 2 column 16"), "{err}");
    let err = parse_err(r#"{"prefault": "yes"}"#);
    assert!(err.contains("expected a boolean"), "{err}");
    let err = parse_err(r#"{"memory_backing": "gold"}"#);
    assert!(err.contains("unknown variant `gold`"), "{err}");
    let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "vcpus": "3-1"}]}"#);
    assert!(err.contains("the range 3-1 ends before it starts"), "{err}");
    let err = parse_err(r#"{"numa": [{"node": 0, "vcpus": [-1], "memory": 64}]}"#);
    assert!(err.contains("invalid value: integer `-1`"), "{err}");
    let err = parse_err(r#"{"numa": [{"node": 0, "vcpus": "0"}]}"#);
    assert!(err.contains("missing field `memory`"), "{err}");
    let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "policy": "strict"}]}"#);
    assert!(err.contains("unknown variant `strict`"), "{err}");
    let err = parse_err(r#"{"numa": [{"node": 2, "memory": 64, "policy": "bind"}]}"#);
    assert_eq!(
        err,
        "config file /etc/tern/vm.json: numa node 2 has a \"policy\" but no \"host_node\""
    );
    let err = parse_err(r#"["/k"]"#);
    assert!(
        err.contains("invalid type: sequence, expected a JSON object of VM settings"),
        "{err}"
    );
    let err = parse_err(r#"{"numa": [[0, "0", 64]]}"#);
    assert!(err.contains("expected a numa node object"), "{err}");
    let err = parse_err(r#"{"numa": {"node": 0}}"#);
    assert!(
        err.contains("invalid type: map, expected a sequence"),
        "{err}"
    );
    let err = parse_err(r#"{"console_filter": "auto"}"#);
    assert!(
        err.contains("unknown variant `auto`, expected `on` or `off`"),
        "{err}"
    );
    let err = parse_err(r#"{"seccomp": "trap"}"#);
    assert!(
        err.contains("unknown variant `trap`, expected one of `kill`, `log`, `off`"),
        "{err}"
    );
    let err = parse_err(r#"{"console_rate": "fast"}"#);
    assert!(err.contains("'fast' is not a number of bytes"), "{err}");
    let err = parse_err(r#"{"console_limit": -5}"#);
    assert!(err.contains("expected a number of bytes"), "{err}");
    let err = parse_err("{\n  \"name\": \"web 1\"\n}");
    assert!(err.contains("the VM name 'web 1' may only hold"), "{err}");
    assert!(err.contains(" at line "), "{err}");
    let err = parse_err(r#"{"host_cpus": "all"}"#);
    assert!(
        err.contains("'all' is not a list of numbers like 0-3,6; use a CPU list like 0-3,6 or any"),
        "{err}"
    );
    let err = parse_err(r#"{"host_cpus": []}"#);
    assert!(err.contains("the list is empty"), "{err}");
    let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "host_cpus": 3}]}"#);
    assert!(
        err.contains("invalid type: integer `3`, expected host CPUs: \"any\", a string like"),
        "{err}"
    );
    let err = parse_err(r#"{"vmm_cpus": "any"}"#);
    assert!(err.contains("\"any\" is not a CPU list here"), "{err}");
    let err = parse_err(r#"{"vmm_cpus": true}"#);
    assert!(err.contains("expected a CPU list"), "{err}");
    let err = parse_err(r#"{"memory_backing": 2}"#);
    assert!(
        err.contains("invalid type: integer `2`, expected a string"),
        "{err}"
    );
}

#[test]
fn malformed_json_gives_the_position() {
    let err = parse_err("{\n  \"kernel\": \"/k\",\n}");
    assert!(
        err.starts_with("config file /etc/tern/vm.json: trailing comma"),
        "{err}"
    );
    assert!(err.ends_with("at line 3 column 1"), "{err}");
    let err = parse_err("");
    assert!(err.contains("EOF while parsing"), "{err}");
}

#[test]
fn loads_a_file_and_resolves_against_its_directory() {
    let dir = TempDir::new_with_prefix("/tmp/tern-config").unwrap();
    let path = dir.as_path().join("vm.json");
    std::fs::write(&path, r#"{"kernel": "bzImage", "memory": 512}"#).unwrap();
    let file = ConfigFile::load(&path).unwrap();
    assert_eq!(file.kernel, Some(dir.as_path().join("bzImage")));
    assert_eq!(file.memory, Some(MemSize::from_mib(512)));
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let dir = TempDir::new_with_prefix("/tmp/tern-config").unwrap();
    let path = dir.as_path().join("absent.json");
    let err = ConfigFile::load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "cannot read config file {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}
