//! Prefaulting the pages restored instances are known to write.
//!
//! Why: an instance's memory is a copy-on-write mapping of the snapshot's image. A page that the guest first reads
//! (the kernel maps it read-only, with its neighbours) and then writes takes a write-protect fault, and replacing a
//! present page table entry needs a TLB flush on every other CPU that runs a thread of this process — an IPI each,
//! and a VM exit on a virtual machine. Profiling `serve --max-requests-per-instance 1` on 2 vCPUs put 58% of the
//! serving thread's time in those flushes. A page whose first touch is a write costs a plain copy and no flush.
//!
//! So each [`Restorer`](super::Restorer) learns which pages its instances touch — from `/proc/self/pagemap` of a
//! retired instance: its private pages were written, its present file pages were read — and faults exactly those
//! in every new instance, before any guest code runs, on the thread that makes the instance (the pool's factory)
//! rather than the one serving the request: written ones writable (`MADV_POPULATE_WRITE`), then read ones
//! read-only (`MADV_POPULATE_READ`, which spares the serving thread the page-cache lookups of read faults). Nothing
//! in memory changes: populating only maps pages and breaks copy-on-write. Elsewhere than Linux, or on a kernel
//! without these (before 5.14), both steps do nothing.

use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Most written pages remembered (16 MiB): an instance that wrote more than this is not a guide to a fresh one.
const MAX_WRITTEN: usize = 4096;

/// The host's page size, which `/proc/self/pagemap` counts in.
const PAGE: usize = 4096;

/// Ranges of page numbers from the start of linear memory.
type Pages = Vec<Range<usize>>;

/// What instances of one snapshot touch: pages they write, and pages they only read.
#[derive(Default)]
pub struct TouchedPages {
    learned: Mutex<Arc<(Pages, Pages)>>,
}

impl TouchedPages {
    /// How many pages are known to be written.
    pub fn written(&self) -> usize {
        count(&self.current().0)
    }

    /// Whether nothing has been learned yet.
    pub fn is_empty(&self) -> bool {
        let current = self.current();
        current.0.is_empty() && current.1.is_empty()
    }

    fn current(&self) -> Arc<(Pages, Pages)> {
        self.learned.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Remember the pages touched in the memory at `base` (`len` bytes) of an instance about to be dropped.
    pub fn learn(&self, base: *const u8, len: usize) {
        let Some((written, read)) = touched_pages(base, len) else { return };
        if count(&written) > MAX_WRITTEN {
            return;
        }
        if let Ok(mut current) = self.learned.lock() {
            *current = Arc::new((written, read));
        }
    }

    /// Fault the known pages of the memory at `base` (`len` bytes, page-aligned) in: written ones writable, then
    /// read ones.
    pub fn prefault(&self, base: *mut u8, len: usize) {
        let current = self.current();
        for (pages, advice) in [(&current.0, Advice::Write), (&current.1, Advice::Read)] {
            for range in pages {
                let end = (range.end * PAGE).min(len);
                let start = range.start * PAGE;
                if start < end {
                    populate(base.wrapping_add(start), end - start, advice);
                }
            }
        }
    }
}

fn count(pages: &Pages) -> usize {
    pages.iter().map(|r| r.len()).sum()
}

#[derive(Clone, Copy)]
enum Advice {
    Write,
    Read,
}

#[cfg(target_os = "linux")]
fn populate(at: *mut u8, len: usize, advice: Advice) {
    let advice = match advice {
        Advice::Write => libc::MADV_POPULATE_WRITE,
        Advice::Read => libc::MADV_POPULATE_READ,
    };
    // SAFETY: the range lies inside one live, writable linear memory the caller owns exclusively; populating
    // faults pages in (writable: breaking copy-on-write) without changing a byte of them.
    unsafe {
        libc::madvise(at.cast(), len, advice);
    }
}

#[cfg(not(target_os = "linux"))]
fn populate(_at: *mut u8, _len: usize, _advice: Advice) {}

/// The pages of `[base, base + len)` this process wrote — present, anonymous and mapped only here: a
/// copy-on-write copy or a written zero page — and those it only read: present pages of the image's file.
#[cfg(target_os = "linux")]
fn touched_pages(base: *const u8, len: usize) -> Option<(Pages, Pages)> {
    use std::os::unix::fs::FileExt;
    const PRESENT: u64 = 1 << 63;
    const FILE_OR_SHARED: u64 = 1 << 61;
    const EXCLUSIVE: u64 = 1 << 56;
    static PAGEMAP: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
    let pagemap = PAGEMAP.get_or_init(|| std::fs::File::open("/proc/self/pagemap").ok()).as_ref()?;
    if (base as usize) % PAGE != 0 {
        return None;
    }
    let pages = len / PAGE;
    let mut entries = vec![0u8; pages * 8];
    pagemap.read_exact_at(&mut entries, (base as usize / PAGE * 8) as u64).ok()?;
    let (mut written, mut read) = (Pages::new(), Pages::new());
    for (page, entry) in entries.chunks_exact(8).enumerate() {
        let entry = u64::from_ne_bytes(entry.try_into().expect("8-byte chunk"));
        let pages = match entry & (PRESENT | FILE_OR_SHARED | EXCLUSIVE) {
            e if e == PRESENT | EXCLUSIVE => &mut written,
            e if e & (PRESENT | FILE_OR_SHARED) == PRESENT | FILE_OR_SHARED => &mut read,
            _ => continue,
        };
        match pages.last_mut() {
            Some(last) if last.end == page => last.end += 1,
            _ => pages.push(page..page + 1),
        }
    }
    Some((written, read))
}

#[cfg(not(target_os = "linux"))]
fn touched_pages(_base: *const u8, _len: usize) -> Option<(Pages, Pages)> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A private file mapping: pages only read stay the file's, written ones become private, and both are learned;
    /// populating them in a second mapping maps them the same way without changing a byte.
    #[test]
    fn learns_written_pages_and_prefaults_them_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        let image: Vec<u8> = (0..16 * PAGE).map(|i| (i / PAGE) as u8 + 1).collect();
        std::fs::write(&path, &image).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let map = |file: &std::fs::File| unsafe { memmap2::MmapOptions::new().map_copy(file).unwrap() };

        let mut first = map(&file);
        let _ = std::hint::black_box(first[12 * PAGE]);
        first[3 * PAGE + 7] = 0xaa;
        first[4 * PAGE] = 0xbb;
        first[9 * PAGE + 1] = 0xcc;
        let touched = TouchedPages::default();
        touched.learn(first.as_ptr(), first.len());
        let learned = touched.current();
        assert_eq!(learned.0, vec![3..5, 9..10]);
        // The kernel maps a read page's neighbours too (fault-around): they count as read.
        assert!(learned.1.iter().any(|r| r.contains(&12)), "read pages: {:?}", learned.1);
        assert_eq!(touched.written(), 3);

        let mut second = map(&file);
        touched.prefault(second.as_mut_ptr(), second.len());
        let (written, read) = touched_pages(second.as_ptr(), second.len()).unwrap();
        assert_eq!(written, learned.0);
        assert!(read.iter().any(|r| r.contains(&12)), "read pages after prefaulting: {read:?}");
        assert_eq!(&second[..], &image[..], "populating changed the memory");
    }
}
