//! The channel between the API thread and the VMM: the API sends a [`VmRequest`] with a
//! oneshot sender for the reply and wakes the VMM's event loop through an eventfd; the VMM
//! answers on its own thread. Neither side blocks the other.

use std::io;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use crate::model::{
    Action, AffinityRequest, AutoBalanceInfo, AutoBalanceRequest, HeatInfo, HeatRequest,
    PlacementInfo, RebalanceAccepted, RebalanceRequest, RebalanceStatus, TopologyInfo, VcpuInfo,
    VmInfo,
};

/// How long the API waits for the VMM before answering 500.
pub const VMM_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the API asks of the VMM.
#[derive(Clone, Debug, PartialEq)]
pub enum VmRequest {
    /// The VM's state and shape.
    GetVm,
    /// Host and guest topology.
    GetTopology,
    /// Guest memory and vCPU placement.
    GetPlacement,
    /// The vCPUs.
    GetVcpus,
    /// Pin a vCPU's thread.
    SetAffinity {
        /// The vCPU.
        vcpu: u32,
        /// Where it may run.
        affinity: AffinityRequest,
    },
    /// Pause, resume or shut down.
    Action(Action),
    /// Metrics in Prometheus text format.
    Metrics,
    /// Start a rebalance.
    StartRebalance(RebalanceRequest),
    /// A rebalance's progress.
    GetRebalance(String),
    /// Cancel a rebalance.
    CancelRebalance(String),
    /// Write heat.
    GetHeat,
    /// Turn heat sampling on or off.
    SetHeat(HeatRequest),
    /// Automatic balancing's state.
    GetAutoBalance,
    /// Turn automatic balancing on or off.
    SetAutoBalance(AutoBalanceRequest),
}

/// The VMM's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum VmResponse {
    /// For GetVm and actions.
    Vm(VmInfo),
    /// For GetTopology.
    Topology(TopologyInfo),
    /// For GetPlacement.
    Placement(PlacementInfo),
    /// For GetVcpus.
    Vcpus(Vec<VcpuInfo>),
    /// For SetAffinity.
    Vcpu(VcpuInfo),
    /// For Metrics.
    Metrics(MetricsText),
    /// For StartRebalance.
    RebalanceAccepted(RebalanceAccepted),
    /// For GetRebalance and CancelRebalance.
    Rebalance(RebalanceStatus),
    /// For GetHeat and SetHeat.
    Heat(HeatInfo),
    /// For GetAutoBalance and SetAutoBalance.
    AutoBalance(AutoBalanceInfo),
}

/// The VMM's metrics, before the API adds its own and labels every series with `vm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsText {
    /// The VM's name.
    pub vm: String,
    /// Its series in Prometheus text format.
    pub text: String,
}

/// The class of a failed request, which sets the HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is invalid.
    BadRequest,
    /// 404: no such object.
    NotFound,
    /// 409: the request conflicts with the VM's state.
    Conflict,
    /// 408: the body did not arrive in time.
    Timeout,
    /// 413: the body is too large.
    TooLarge,
    /// 503: the VMM is too busy to take the request now.
    Unavailable,
    /// 500: the host failed.
    Internal,
}

/// A failed request: its class and one sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The class.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// The VMM's answer or its error.
pub type VmReply = Result<VmResponse, ApiError>;

/// A request waiting for the VMM.
#[derive(Debug)]
pub struct PendingRequest {
    /// The request.
    pub request: VmRequest,
    /// Where the answer goes.
    pub reply: oneshot::Sender<VmReply>,
}

impl PendingRequest {
    /// A request and the receiving end of its reply.
    pub fn new(request: VmRequest) -> (Self, oneshot::Receiver<VmReply>) {
        let (reply, answer) = oneshot::channel();
        (Self { request, reply }, answer)
    }
}

/// The API's end: sends requests and waits for the answers.
#[derive(Clone, Debug)]
pub struct VmHandle {
    sender: mpsc::Sender<PendingRequest>,
    wake: Arc<EventFd>,
}

/// The VMM's end: an eventfd to watch and the requests behind it.
#[derive(Debug)]
pub struct VmRequests {
    receiver: mpsc::Receiver<PendingRequest>,
    wake: Arc<EventFd>,
}

/// A connected pair.
pub fn channel() -> io::Result<(VmHandle, VmRequests)> {
    let wake = Arc::new(EventFd::new(EFD_NONBLOCK)?);
    let (sender, receiver) = mpsc::channel();
    Ok((
        VmHandle {
            sender,
            wake: wake.clone(),
        },
        VmRequests { receiver, wake },
    ))
}

impl VmHandle {
    /// Asks the VMM and waits (asynchronously) for its answer.
    pub async fn call(&self, request: VmRequest) -> VmReply {
        let gone = || {
            ApiError::new(
                ErrorKind::Internal,
                "the VMM is not answering: it is shutting down",
            )
        };
        let (pending, answer) = PendingRequest::new(request);
        self.sender.send(pending).map_err(|_| gone())?;
        self.wake
            .write(1)
            .map_err(|e| ApiError::new(ErrorKind::Internal, format!("cannot wake the VMM: {e}")))?;
        match tokio::time::timeout(VMM_REPLY_TIMEOUT, answer).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(ApiError::new(
                ErrorKind::Internal,
                "the VMM did not answer in time",
            )),
        }
    }
}

impl VmRequests {
    /// The eventfd that becomes readable when requests wait.
    pub fn event(&self) -> &EventFd {
        &self.wake
    }

    /// Takes every waiting request (and clears the eventfd).
    pub fn drain(&self) -> Vec<PendingRequest> {
        let _ = self.wake.read();
        self.receiver.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(text: &str) -> MetricsText {
        MetricsText {
            vm: "vm".into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_request_reaches_the_vmm_and_its_answer_comes_back() {
        let (handle, requests) = channel().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let vmm = std::thread::spawn(move || loop {
            let pending = requests.drain();
            if let Some(p) = pending.into_iter().next() {
                assert_eq!(p.request, VmRequest::Metrics);
                p.reply
                    .send(Ok(VmResponse::Metrics(metrics("m 1\n"))))
                    .unwrap();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        });
        let answer = runtime.block_on(handle.call(VmRequest::Metrics));
        assert_eq!(answer, Ok(VmResponse::Metrics(metrics("m 1\n"))));
        vmm.join().unwrap();
    }

    #[test]
    fn a_vmm_that_is_gone_is_an_internal_error() {
        let (handle, requests) = channel().unwrap();
        drop(requests);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let err = runtime.block_on(handle.call(VmRequest::GetVm)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal);
    }
}
