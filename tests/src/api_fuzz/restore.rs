//! Undoing what the fuzzer's legitimate requests did to the VM: a pause (resumed at every
//! check), vCPU pins, heat sampling, automatic balancing and rebalances (at the end); and
//! checking that tern is alive and its VM running or paused.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::generate::RawRequest;
use super::wire::Answer;
use crate::host_run::RunningTern;

/// The VM's state at the start, and what cases started since.
#[derive(Clone, Debug)]
pub struct Restorer {
    /// Each vCPU's affinity at the start.
    affinity: Vec<Value>,
    /// Rebalances cases started.
    rebalances: Vec<String>,
}

impl Restorer {
    /// Notes the VM's state before fuzzing.
    pub fn capture(tern: &RunningTern) -> Self {
        let vcpus = tern.get("/v1/vcpus");
        let affinity = vcpus
            .as_array()
            .map(|v| v.iter().map(|c| c["affinity"].clone()).collect())
            .unwrap_or_default();
        Self {
            affinity,
            rebalances: Vec::new(),
        }
    }

    /// Notes a rebalance a request started.
    pub fn note(&mut self, request: &RawRequest, answer: &Answer) {
        if request.method == "POST" && answer.status == 202 {
            if let Some(id) = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|b| b["id"].as_str().map(String::from))
            {
                self.rebalances.push(id);
            }
        }
    }

    /// Whether tern is alive and its VM running (resumed if a case paused it); what is
    /// wrong otherwise.
    pub fn check_alive(
        &self,
        tern: &mut RunningTern,
        restored: &mut BTreeMap<&'static str, u64>,
    ) -> Option<String> {
        if let Ok(Some(status)) = tern.child.try_wait() {
            return Some(format!("tern exited ({status})"));
        }
        let vm = match tern.client.get("/v1/vm") {
            Ok(r) if r.status == 200 => serde_json::from_str::<Value>(&r.body).unwrap_or_default(),
            Ok(r) => return Some(format!("GET /v1/vm answered {}: {}", r.status, r.body)),
            Err(e) => return Some(format!("GET /v1/vm failed: {e}")),
        };
        match vm["state"].as_str() {
            Some("running") => None,
            Some("paused") => {
                *restored.entry("resumed").or_default() += 1;
                let r = tern.put("/v1/actions", json!({"action": "resume"}));
                (r.status != 200).then(|| format!("resume answered {}: {}", r.status, r.body))
            }
            other => Some(format!("the VM is {other:?}")),
        }
    }

    /// Puts back affinity, turns heat and automatic balancing off, cancels rebalances.
    pub fn undo(&self, tern: &RunningTern, restored: &mut BTreeMap<&'static str, u64>) {
        for (id, cpus) in self.affinity.iter().enumerate() {
            let r = tern.put(&format!("/v1/vcpus/{id}/affinity"), json!({"cpus": cpus}));
            if r.status == 200 {
                *restored.entry("affinity").or_default() += 1;
            }
        }
        if tern.put("/v1/heat", json!({"enabled": false})).status == 200 {
            *restored.entry("heat off").or_default() += 1;
        }
        if tern
            .put("/v1/auto-balance", json!({"enabled": false}))
            .status
            == 200
        {
            *restored.entry("auto off").or_default() += 1;
        }
        for id in &self.rebalances {
            let (status, _) = tern.call("DELETE", &format!("/v1/rebalance/{id}"), None);
            if status == 200 {
                *restored.entry("rebalance cancelled").or_default() += 1;
            }
        }
    }
}
