//! The driver of one lab run, inside L1: sets L1's THP mode for the run's backing, starts tern
//! with the guest's checksumming workload on every vCPU, makes the run's moves one after the
//! other (printing a `SOAK-MOVE` record for each), lets the workload check every word once
//! more, shuts the VM down and says how the run went (`SOAK-RUN`).

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use super::case::{Backing, Deck};
use super::one_move::{Estimate, Host, Mover, MOVE_LIMIT};
use super::records::{print_record, Failure, FailureKind, RunRecord, MOVE_PREFIX};
use super::seen;
use super::tern::{Tern, VmSpec};
use super::vm_api::VmApi;

/// How long the guest gets to boot and start its workload.
const READY_LIMIT: Duration = Duration::from_secs(240);
/// Passes every workload makes after the last move, so that every moved word is checked.
const FINAL_PASSES: u64 = 2;
/// How long those passes may take.
const FINAL_LIMIT: Duration = Duration::from_secs(120);
/// How long tern gets to stop after a shutdown.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(30);

/// One lab run's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverConfig {
    /// The run's number.
    pub run: u32,
    /// Moves to make.
    pub moves: u32,
    /// The seed the moves are dealt from.
    pub seed: u64,
    /// How guest memory is backed.
    pub backing: Backing,
    /// No move starts after this long.
    pub deadline: Duration,
    /// Memory per guest node, MiB.
    pub node_mib: u64,
    /// Memory the workload on each guest CPU checks, MiB.
    pub workload_mib: u64,
    /// The tern binary.
    pub tern: PathBuf,
    /// Guest kernel and initramfs.
    pub kernel: PathBuf,
    /// Guest initramfs.
    pub initramfs: PathBuf,
}

fn host() -> Result<Host, String> {
    let topology = balancer::topology::HostTopology::read()
        .map_err(|e| format!("cannot read L1's NUMA topology: {e}"))?;
    Ok(Host {
        nodes: topology.nodes.len() as u32,
        cpus: topology.cpus(),
    })
}

/// Gives back any huge pages left reserved on L1's nodes. L1's THP mode stays at its
/// default ("always"): the backing is tern's `--memory-backing` alone.
fn prepare_host(host: &Host) -> Result<(), String> {
    for node in 0..host.nodes {
        let path =
            format!("/sys/devices/system/node/node{node}/hugepages/hugepages-2048kB/nr_hugepages");
        std::fs::write(&path, "0").map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    Ok(())
}

/// Whether guest memory holding `anon_huge_mib` MiB of transparent huge pages once the
/// workload ran is backed as `backing` asks.
pub fn backed_as_asked(backing: Backing, anon_huge_mib: u64) -> Result<(), Failure> {
    let wrong = match backing {
        Backing::Thp => anon_huge_mib == 0,
        Backing::Base => anon_huge_mib > 0,
    };
    if wrong {
        return Err(Failure::new(
            FailureKind::WrongBacking,
            format!(
                "--memory-backing {} left {anon_huge_mib} MiB of guest memory in huge pages",
                backing.tern_backing()
            ),
        ));
    }
    Ok(())
}

/// Waits for the guest's workload to pass `pass` on every CPU; a failure if tern ends first
/// (`what` says when) or `limit` passes.
fn wait_for_passes(
    tern: &mut Tern,
    cpus: usize,
    pass: u64,
    limit: Duration,
    what: &str,
) -> Result<(), Failure> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(death) = tern.death(what) {
            return Err(death);
        }
        let console = tern.console();
        if console.ready && console.cpus.len() >= cpus && console.slowest_pass(cpus) >= pass {
            return Ok(());
        }
        if Instant::now() > deadline {
            let kind = if console.ready {
                FailureKind::GuestStalled
            } else {
                FailureKind::GuestNotReady
            };
            let tail: Vec<&str> = console.tail.iter().map(String::as_str).collect();
            return Err(Failure::new(
                kind,
                format!(
                    "the workload did not reach pass {pass} on all {cpus} CPUs within {} s while {what}; \
                     last lines: {}",
                    limit.as_secs(),
                    tail.join(" | ")
                ),
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Runs the lab run `cfg` describes and returns its record (the moves' records are printed
/// as they are made).
pub fn drive(cfg: &DriverConfig) -> RunRecord {
    let started = Instant::now();
    let mut record = RunRecord {
        run: cfg.run,
        backing: cfg.backing.name().into(),
        seed: cfg.seed,
        moves_asked: cfg.moves,
        ..Default::default()
    };
    if let Err(failure) = run_moves(cfg, &mut record) {
        record.failures.push(failure);
    }
    record.duration_s = started.elapsed().as_secs_f64();
    record
}

fn run_moves(cfg: &DriverConfig, record: &mut RunRecord) -> Result<(), Failure> {
    let started = Instant::now();
    let setup = |e: String| Failure::new(FailureKind::DriverError, e);
    let host = host().map_err(setup)?;
    for (path, what) in [
        (&cfg.tern, "tern"),
        (&cfg.kernel, "the guest kernel"),
        (&cfg.initramfs, "the guest initramfs"),
    ] {
        super::tern::require(path, what).map_err(setup)?;
    }
    prepare_host(&host).map_err(setup)?;
    let vcpus = host.nodes;
    let spec = VmSpec {
        tern: cfg.tern.clone(),
        kernel: cfg.kernel.clone(),
        initramfs: cfg.initramfs.clone(),
        socket: PathBuf::from("/tmp/tern-soak.sock"),
        guest_nodes: vcpus,
        host_nodes: host.nodes,
        node_mib: cfg.node_mib,
        workload_mib: cfg.workload_mib,
        backing: cfg.backing.tern_backing(),
    };
    println!(
        "SOAK-L1 run={} backing={} seed={} moves={} args: {}",
        cfg.run,
        cfg.backing.name(),
        cfg.seed,
        cfg.moves,
        spec.args().join(" ")
    );
    let mut tern = Tern::start(&spec).map_err(|e| setup(format!("cannot start tern: {e}")))?;
    let result = moves_on(cfg, record, &host, vcpus, &spec, &mut tern, started);
    let console = tern.console();
    record.bad_words = console.bad_words;
    record.err_lines = console.err_lines;
    record.heartbeats = console.heartbeats();
    record.passes = (0..vcpus as usize)
        .map(|c| console.cpus.get(&c).map_or(0, |b| b.pass))
        .collect();
    record.largest_gap_ms = console.largest_gap_ms();
    tern.stop();
    result
}

fn moves_on(
    cfg: &DriverConfig,
    record: &mut RunRecord,
    host: &Host,
    vcpus: u32,
    spec: &VmSpec,
    tern: &mut Tern,
    started: Instant,
) -> Result<(), Failure> {
    let cpus = vcpus as usize;
    wait_for_passes(tern, cpus, 1, READY_LIMIT, "booting")?;
    let api =
        VmApi::new(&spec.socket).map_err(|e| Failure::new(FailureKind::ApiError, e.to_string()))?;
    let placement = seen::query(tern.pid()).map_err(|e| {
        Failure::new(
            FailureKind::DriverError,
            format!("cannot query placement: {e}"),
        )
    })?;
    record.anon_huge_mib = seen::anon_huge_kb(tern.pid(), &placement.vmas).unwrap_or(0) / 1024;
    println!(
        "SOAK-L1 guest ready after {:.1} s: {} populated pages {:?}, AnonHugePages {} MiB",
        started.elapsed().as_secs_f64(),
        placement.populated(),
        placement.pages_on,
        record.anon_huge_mib
    );
    backed_as_asked(cfg.backing, record.anon_huge_mib)?;
    let mut deck = Deck::new(cfg.seed, vcpus, host.nodes);
    let mut mover = Mover {
        api: &api,
        socket: spec.socket.clone(),
        tern,
        host: host.clone(),
        vcpus,
        run: cfg.run,
        backing: cfg.backing,
        placement,
        estimate: Estimate::default(),
    };
    for index in 0..cfg.moves {
        if started.elapsed() + MOVE_LIMIT / 4 > cfg.deadline {
            record.notes.push(format!(
                "stopped after {index} moves: the run's time ({} s) was running out",
                cfg.deadline.as_secs()
            ));
            break;
        }
        if let Some(stall) = mover.stalled(false) {
            return Err(stall);
        }
        let case = deck.deal(index);
        let end = mover.make(&case);
        print_record(MOVE_PREFIX, &end.record);
        record.moves_done += 1;
        if end.fatal {
            record.notes.push(format!(
                "the run ended at move {index}: tern or its guest was gone"
            ));
            return Ok(());
        }
    }
    let pass = mover.tern.console().slowest_pass(cpus);
    wait_for_passes(
        mover.tern,
        cpus,
        pass + FINAL_PASSES,
        FINAL_LIMIT,
        "checking memory after the last move",
    )?;
    if let Err(e) = api.action("shutdown") {
        record
            .failures
            .push(Failure::new(FailureKind::ApiError, e.to_string()));
    }
    let status = mover.tern.wait_for_exit(SHUTDOWN_LIMIT);
    record.tern_exit = status.and_then(|s| s.code());
    if record.tern_exit != Some(0) {
        return Err(Failure::new(
            FailureKind::TernDied,
            format!("tern did not end with status 0 after a shutdown: {status:?}"),
        ));
    }
    Ok(())
}

/// Prints the record of a run.
pub fn report(record: &RunRecord) {
    print_record(super::records::RUN_PREFIX, record);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backing_is_checked_by_the_huge_pages_it_got() {
        assert!(backed_as_asked(Backing::Thp, 64).is_ok());
        assert!(backed_as_asked(Backing::Base, 0).is_ok());
        let thp = backed_as_asked(Backing::Thp, 0).unwrap_err();
        assert_eq!(thp.kind, FailureKind::WrongBacking);
        let base = backed_as_asked(Backing::Base, 2).unwrap_err();
        assert!(base.detail.contains("anon left 2 MiB"), "{}", base.detail);
    }
}
