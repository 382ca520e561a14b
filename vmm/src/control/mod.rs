//! The VMM's side of the API: answers each request from the VM's own state (plan, guest RAM,
//! vCPU control, exit signal), on the main thread, or on the worker for slow ones ([`worker`]).

pub mod console_metrics;
pub mod device_metrics;
pub mod info;
pub mod metrics;
pub mod placement;
pub mod rebalance;
pub mod rebalance_mode;
pub mod subscriber;
pub mod vcpus;
pub mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::model::{Action, VmInfo, VmState};
use api::request::{ApiError, ErrorKind, MetricsText, VmReply, VmRequest, VmResponse};
use balancer::engine::Balancer;
use devices::console::OutputBuffer;

use crate::exit::{ExitReason, ExitSignal};
use crate::memory::GuestRam;
use crate::plan::VmPlan;
use crate::vcpu::control::VcpuControl;
use crate::vcpu::kick_shared;

/// How long a pause waits for every vCPU to leave KVM_RUN.
pub(crate) const PAUSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a request may look at or act on.
#[derive(Debug)]
pub struct VmControl {
    /// The VM's name (`--name`, or its API socket's file name).
    pub name: String,
    /// The VM's plan (guest nodes, vCPUs).
    pub plan: VmPlan,
    /// Guest RAM.
    pub ram: Arc<GuestRam>,
    /// The vCPUs.
    pub vcpus: Arc<VcpuControl>,
    /// The exit request.
    pub exit: Arc<ExitSignal>,
    /// When the VM started.
    pub started: Instant,
    /// The balancer.
    pub balancer: Arc<Balancer>,
    /// The host CPUs tern may use (online and in its affinity at launch): pins stay within.
    pub usable_cpus: Vec<u32>,
    /// The guest console's output buffer: `stats()` counts the bytes written and dropped.
    pub console: Arc<OutputBuffer>,
    /// The virtio devices.
    pub devices: Vec<crate::virtio_mmio::DeviceInfo>,
}

pub(crate) fn internal(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::Internal, format!("{what}: {err}"))
}

impl VmControl {
    /// The run state.
    pub fn state(&self) -> VmState {
        if self.exit.is_requested() {
            VmState::ShuttingDown
        } else if self.vcpus.is_paused() {
            VmState::Paused
        } else {
            VmState::Running
        }
    }

    /// Answers one request.
    pub fn handle(&self, request: VmRequest) -> VmReply {
        match request {
            VmRequest::GetVm => Ok(VmResponse::Vm(self.vm_info())),
            VmRequest::GetTopology => self.topology().map(VmResponse::Topology),
            VmRequest::GetPlacement => self.placement().map(VmResponse::Placement),
            VmRequest::GetVcpus => self.vcpu_list().map(VmResponse::Vcpus),
            VmRequest::SetAffinity { vcpu, affinity } => {
                self.set_affinity(vcpu, &affinity).map(VmResponse::Vcpu)
            }
            VmRequest::Action(action) => self.act(action).map(VmResponse::Vm),
            VmRequest::Metrics => Ok(VmResponse::Metrics(MetricsText {
                vm: self.name.clone(),
                text: metrics::render(self),
            })),
            VmRequest::StartRebalance(req) => self
                .start_rebalance(&req)
                .map(VmResponse::RebalanceAccepted),
            VmRequest::GetRebalance(id) => self.rebalance_status(&id).map(VmResponse::Rebalance),
            VmRequest::CancelRebalance(id) => self.cancel_rebalance(&id).map(VmResponse::Rebalance),
            VmRequest::GetHeat => Ok(VmResponse::Heat(self.heat_info())),
            VmRequest::SetHeat(req) => self.set_heat(&req).map(VmResponse::Heat),
            VmRequest::GetAutoBalance => Ok(VmResponse::AutoBalance(self.auto_info())),
            VmRequest::SetAutoBalance(req) => self.set_auto(&req).map(VmResponse::AutoBalance),
        }
    }

    /// The VM summary.
    pub fn vm_info(&self) -> VmInfo {
        info::vm_info(self)
    }

    fn act(&self, action: Action) -> Result<VmInfo, ApiError> {
        let conflict = |m: &str| ApiError::new(ErrorKind::Conflict, m);
        match (action, self.state()) {
            (_, VmState::ShuttingDown) => Err(conflict("the VM is shutting down")),
            (Action::Pause, VmState::Paused) => Err(conflict("the VM is already paused")),
            (Action::Resume, VmState::Running) => Err(conflict("the VM is not paused")),
            (Action::Pause, _) => {
                if !self.vcpus.pause(kick_shared, PAUSE_TIMEOUT) {
                    self.vcpus.resume();
                    return Err(ApiError::new(
                        ErrorKind::Internal,
                        "the vCPUs did not stop within 5 s; the VM keeps running",
                    ));
                }
                Ok(self.vm_info())
            }
            (Action::Resume, _) => {
                self.vcpus.resume();
                Ok(self.vm_info())
            }
            (Action::Shutdown, _) => {
                let mut info = self.vm_info();
                info.state = VmState::ShuttingDown;
                // Released by the stop sequence; the reply goes out before the VM stops.
                self.exit.request(ExitReason::ApiShutdown);
                Ok(info)
            }
        }
    }
}
