//! API requests counted by response status, for `tern_api_requests_total`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Requests per status code.
#[derive(Clone, Debug, Default)]
pub struct RequestCounters {
    by_status: Arc<Mutex<BTreeMap<u16, u64>>>,
}

impl RequestCounters {
    /// Counts one response.
    pub fn count(&self, status: u16) {
        if let Ok(mut map) = self.by_status.lock() {
            *map.entry(status).or_default() += 1;
        }
    }

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::from(
            "# HELP tern_api_requests_total API requests served, by HTTP status.\n# TYPE tern_api_requests_total counter\n",
        );
        if let Ok(map) = self.by_status.lock() {
            for (status, count) in map.iter() {
                text.push_str(&format!(
                    "tern_api_requests_total{{status=\"{status}\"}} {count}\n"
                ));
            }
        }
        text
    }
}

/// Middleware that counts every response.
pub async fn count_requests(
    State(counters): State<RequestCounters>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    counters.count(response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_per_status() {
        let c = RequestCounters::default();
        c.count(200);
        c.count(200);
        c.count(404);
        let text = c.render();
        assert!(
            text.contains("tern_api_requests_total{status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("tern_api_requests_total{status=\"404\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE tern_api_requests_total counter"));
    }
}
