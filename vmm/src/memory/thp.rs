//! Transparent huge pages for guest RAM: `thp` backing asks for them (MADV_HUGEPAGE), `anon`
//! backing refuses them (MADV_NOHUGEPAGE), so that base pages stay base pages even where the
//! host's THP mode is "always". Neither advice is needed for the guest to run: a kernel that
//! refuses it (one built without THP answers EINVAL) costs a warning, once, and guest memory
//! is then in whatever pages the host gives.

use std::io;
use std::sync::Once;

use super::mapping::HostMapping;
use crate::config::MemoryBacking;

static WARN_HUGE: Once = Once::new();
static WARN_BASE: Once = Once::new();

/// Advises `mapping` for `kind`'s page size; never fails.
pub fn advise_page_size(mapping: &HostMapping, kind: MemoryBacking) {
    match kind {
        MemoryBacking::Thp => {
            if let Err(err) = mapping.advise_huge_pages() {
                WARN_HUGE.call_once(|| log::warn!("{}", huge_refused(&err)));
            }
        }
        MemoryBacking::Anon => match mapping.advise_no_huge_pages() {
            // A kernel without THP: base pages are all it has.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {}
            Err(err) => WARN_BASE.call_once(|| log::warn!("{}", base_refused(&err))),
            Ok(()) => {}
        },
        MemoryBacking::Hugetlb => {}
    }
}

fn huge_refused(err: &io::Error) -> String {
    format!(
        "the host refused transparent huge pages for guest memory (madvise MADV_HUGEPAGE: \
         {err}; a kernel without THP does that): guest memory is in base pages"
    )
}

fn base_refused(err: &io::Error) -> String {
    format!(
        "the host refused to keep guest memory in base pages (madvise MADV_NOHUGEPAGE: {err}): \
         with its THP mode \"always\" it may use huge pages"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warnings_name_the_advice_and_the_consequence() {
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(
            huge_refused(&einval),
            "the host refused transparent huge pages for guest memory (madvise MADV_HUGEPAGE: \
             Invalid argument (os error 22); a kernel without THP does that): guest memory is \
             in base pages"
        );
        assert!(base_refused(&einval).contains("MADV_NOHUGEPAGE"));
    }

    /// The VmFlags line of this process's mapping that starts at `addr`.
    fn vm_flags(addr: usize) -> Vec<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let start = format!("{addr:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        lines
            .find_map(|l| l.strip_prefix("VmFlags:"))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn thp_asks_for_huge_pages_and_anon_refuses_them() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            println!("skipped: this kernel has no THP");
            return;
        }
        let expected = [
            (MemoryBacking::Thp, Some("hg")),
            (MemoryBacking::Anon, Some("nh")),
            (MemoryBacking::Hugetlb, None),
        ];
        for (kind, flag) in expected {
            let map = HostMapping::anonymous(4 << 20).unwrap();
            advise_page_size(&map, kind);
            let flags = vm_flags(map.as_ptr() as usize);
            for advice in ["hg", "nh"] {
                assert_eq!(
                    flags.iter().any(|f| f == advice),
                    flag == Some(advice),
                    "{kind:?}: {flags:?}"
                );
            }
        }
    }
}
