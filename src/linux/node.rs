//! The node's run loop: TUN -> core -> brokers, and brokers -> core -> TUN.
//!
//! Tasks, each owning what it touches so that no lock is taken per packet:
//!
//! - [`outbound`]: reads the TUN device (as many packets as are ready, up to
//!   a batch), seals and frames them as PUBLISH packets into one pooled
//!   buffer, and hands that buffer to every connected broker's writer.
//! - one writer per broker connection: writes batches and the session's
//!   control packets (CONNECT, SUBSCRIBE, PINGREQ) to the socket, one
//!   `write` per batch.
//! - [`inbound`]: owns every broker session (the core's sans-IO
//!   [`Session`](crate::mqtt::session::Session)) and the read side of every
//!   connection, runs the keepalive timers, and writes received packets to
//!   the TUN device.
//! - one short task per connection attempt (TCP, TLS, WebSocket), started
//!   when the core link asks for a connection.
//!
//! The outbound task owns the core tunnel's [`Sender`] half, the inbound
//! task its [`Receiver`] half (the configuration does not change on Linux). Each copies its counters
//! into [`SharedCounters`] when it goes idle or every [`COUNTER_PERIOD`],
//! which is what status reports read.

use std::future::poll_fn;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tun_rs::AsyncDevice;

use super::pipeline::{Batch, BatchPool, Publisher};
use super::transport::{BrokerStream, ConnectError, Connector};
use super::{RunError, lock};
use crate::link::{Link, LinkError, LinkEvent};
use crate::tunnel::{Counters, Direction, DropReason, Receiver, Sender};

/// Longest a counter snapshot lags behind a busy task.
pub const COUNTER_PERIOD: Duration = Duration::from_millis(100);

/// Counters of both directions, and the driver's own.
#[derive(Debug, Default)]
pub struct SharedCounters {
    outbound: Mutex<Counters>,
    inbound: Mutex<Counters>,
    driver: Mutex<DriverCounters>,
}

/// What the driver counts beyond the core: broker sessions and packets that
/// could not be queued for the broker.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DriverCounters {
    /// Successful broker connections (the first one included).
    pub connects: u64,
    /// Failed connection attempts and lost sessions.
    pub connection_errors: u64,
    /// Outbound packets dropped because no broker link was up, or every
    /// link's queue was full.
    pub broker_unavailable: u64,
    /// Received messages longer than the largest packet carried, skipped
    /// without reading them into memory.
    pub oversize: u64,
}

impl SharedCounters {
    /// A merged snapshot: outbound figures from the outbound task, inbound
    /// from the inbound task.
    pub fn snapshot(&self) -> (Counters, Counters, DriverCounters) {
        (
            lock(&self.outbound).clone(),
            lock(&self.inbound).clone(),
            *lock(&self.driver),
        )
    }

    /// One log line with every non-zero counter.
    pub fn summary(&self) -> String {
        let (out, inb, driver) = self.snapshot();
        let mut s = format!(
            "tx_packets={} tx_bytes={} rx_packets={} rx_bytes={} tx_messages={} rx_messages={} connects={} connection_errors={} dropped_broker_unavailable={}",
            out.tx_packets,
            out.tx_bytes,
            inb.rx_packets,
            inb.rx_bytes,
            out.tx_messages,
            inb.rx_messages,
            driver.connects,
            driver.connection_errors,
            driver.broker_unavailable
        );
        if driver.oversize > 0 {
            s.push_str(&format!(" dropped_in_oversize={}", driver.oversize));
        }
        for (direction, counters, tag) in [
            (Direction::Outbound, &out, "out"),
            (Direction::Inbound, &inb, "in"),
        ] {
            for reason in DropReason::ALL {
                let n = counters.dropped(direction, reason);
                if n > 0 {
                    s.push_str(&format!(" dropped_{tag}_{}={n}", reason.name()));
                }
            }
        }
        s
    }
}

/// Copies a task's counters into the shared slot at most every COUNTER_PERIOD
/// while busy, and always when asked to flush.
struct CounterSync {
    shared: Arc<SharedCounters>,
    direction: Direction,
    last: Instant,
    dirty: bool,
}

impl CounterSync {
    /// Syncs the `direction` slot of `shared`.
    fn new(shared: Arc<SharedCounters>, direction: Direction) -> Self {
        Self {
            shared,
            direction,
            last: Instant::now(),
            dirty: false,
        }
    }

    /// Copies `counters` if the last copy is a period old, else notes them
    /// as unflushed.
    fn maybe(&mut self, counters: &Counters) {
        if self.last.elapsed() >= COUNTER_PERIOD {
            self.flush(counters);
        } else {
            self.dirty = true;
        }
    }

    /// When unflushed counts should be flushed, if there are any.
    fn due(&self) -> Option<Instant> {
        self.dirty.then(|| self.last + COUNTER_PERIOD)
    }

    /// Copies `counters` now.
    fn flush(&mut self, counters: &Counters) {
        let slot = match self.direction {
            Direction::Outbound => &self.shared.outbound,
            Direction::Inbound => &self.shared.inbound,
        };
        lock(slot).clone_from(counters);
        self.last = Instant::now();
        self.dirty = false;
    }
}

/// Most packets read from the TUN device into one batch.
pub const MAX_BATCH_PACKETS: usize = 64;
/// A batch is handed to the writers once it holds this many bytes.
pub const BATCH_BYTES: usize = 64 * 1024;
/// Batches in flight: the pool's size and each writer's queue length. When
/// all are in flight the outbound task waits (`free_batch`), so more
/// would only hold more memory (each up to ~145 KB): 8 keep a saturated
/// broker busy, where 32 took 3.4 MB more of RSS for no throughput.
pub const BATCHES_IN_FLIGHT: usize = 8;
/// Bytes read from a broker socket at a time.
const READ_BUFFER: usize = 64 * 1024;

/// State of one broker link that several tasks look at.
#[derive(Debug)]
pub struct LinkShared {
    /// The broker's URL, for logs.
    pub url: String,
    /// The broker accepted the session and the connection has not been lost
    /// since; the outbound task only queues batches for links that are up.
    pub up: AtomicBool,
    /// Sessions the broker accepted.
    pub connects: AtomicU64,
    /// The broker's last PINGREQ round trip, in milliseconds.
    pub rtt_ms: AtomicU64,
    /// Why the last connection attempt or session failed.
    pub last_error: Mutex<Option<String>>,
    /// Notified (one signal shared by every link) each time a writer is
    /// done with a batch: the outbound task waits for it when every batch
    /// buffer is in flight.
    pub freed: Arc<tokio::sync::Notify>,
}

impl LinkShared {
    /// Records why the link failed.
    fn set_error(&self, why: &str) {
        *lock(&self.last_error) = Some(why.to_owned());
    }

    /// The last error, if any.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }
}

/// One broker as the outbound task sees it.
#[derive(Debug, Clone)]
pub struct LinkHandle {
    /// Shared state.
    pub shared: Arc<LinkShared>,
    /// The queue of the link's writer.
    pub data: mpsc::Sender<Batch>,
}

/// Control chunks (the link's transmit bytes) queued for one writer. While
/// it is full the link's own buffer fills, the session stops taking input
/// and the link stops reading its socket: a broker that sends without
/// reading cannot make the node queue without bound.
const CONTROL_QUEUE: usize = 8;
/// Longest a writer may wait on one write, and longest a link may hold
/// input it cannot take because its writer does not drain.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// How often a link holding input tries again.
const STALL_RETRY: Duration = Duration::from_millis(5);

/// What the connection tasks of a link report to [`inbound`].
pub enum News {
    /// A connection attempt ended (with the attempt's number).
    Opened(usize, u64, Result<Box<dyn BrokerStream>, ConnectError>),
    /// The writer of attempt `.1` failed.
    WriteFailed(usize, u64, String),
}

/// One broker as the inbound task sees it: the core's [`Link`] and the
/// I/O around it.
pub struct InboundLink {
    index: usize,
    link: Link,
    connector: Connector,
    shared: Arc<LinkShared>,
    data: Arc<tokio::sync::Mutex<mpsc::Receiver<Batch>>>,
    /// The number of the current connection attempt; news of older ones is
    /// ignored.
    attempt: u64,
    opening: Option<JoinHandle<()>>,
    reader: Option<ReadHalf<Box<dyn BrokerStream>>>,
    control: Option<mpsc::Sender<Vec<u8>>>,
    writer: Option<JoinHandle<()>>,
    /// Input the link could not take yet (its writer lags); the socket is
    /// not read while there is some.
    held: Vec<u8>,
    held_since: Option<tokio::time::Instant>,
    /// A better reason than the link's for the next `Down` (an I/O error).
    why: Option<String>,
    /// The session's oversize count already added to the driver's.
    oversize_seen: u64,
}

/// Everything the tasks of one broker link need, made by [`link`].
pub struct LinkParts {
    /// For reports.
    pub shared: Arc<LinkShared>,
    /// For the outbound task.
    pub handle: LinkHandle,
    /// For the inbound task.
    pub inbound: InboundLink,
}

/// Makes the parts of broker link `index`: `link` is the core's link (its
/// filters set), `connector` opens its connections.
/// `freed` is the signal its writers give when done with a batch.
pub fn link(
    index: usize,
    link: Link,
    connector: Connector,
    freed: Arc<tokio::sync::Notify>,
) -> LinkParts {
    let link_shared = Arc::new(LinkShared {
        url: connector.url().to_string(),
        up: AtomicBool::new(false),
        connects: AtomicU64::new(0),
        rtt_ms: AtomicU64::new(0),
        last_error: Mutex::new(None),
        freed,
    });
    let (data_tx, data_rx) = mpsc::channel(BATCHES_IN_FLIGHT);
    LinkParts {
        shared: link_shared.clone(),
        handle: LinkHandle {
            shared: link_shared.clone(),
            data: data_tx,
        },
        inbound: InboundLink {
            index,
            link,
            connector,
            shared: link_shared,
            data: Arc::new(tokio::sync::Mutex::new(data_rx)),
            attempt: 0,
            opening: None,
            reader: None,
            control: None,
            writer: None,
            held: Vec::new(),
            held_since: None,
            why: None,
            oversize_seen: 0,
        },
    }
}

/// Reads packets from the TUN device, seals and frames them in batches,
/// and queues each batch for the brokers: every link that is up when
/// `duplicate` (sealed mode with several brokers: receivers drop the second
/// copy by its nonce), else the first link that is up (plain mode cannot
/// tell copies apart, so it fails over instead). With `batch_peers` (the
/// node's presence, when it sends batches) packets for peers that announce
/// they read wire-v2 batches are batched.
pub async fn outbound(
    tun: Arc<AsyncDevice>,
    tunnel: Sender,
    links: Vec<LinkHandle>,
    (duplicate, batch_peers): (bool, SharedPresence),
    shared: Arc<SharedCounters>,
) -> Result<(), RunError> {
    let mut peers_seen = 0;
    let mtu = tunnel.config().mtu;
    let mut publisher = Publisher::new(tunnel);
    let mut reads = TunReads::new(mtu);
    let per_packet = 5 + 2 + crate::topic::MAX_TOPIC_LEN + 128;
    let mut pool = BatchPool::new(
        BATCHES_IN_FLIGHT,
        BATCH_BYTES + 65_536 + reads.capacity() * per_packet,
    );
    let mut sync = CounterSync::new(shared.clone(), Direction::Outbound);
    loop {
        let count = match reads.try_read(&tun) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                sync.flush(publisher.tunnel().counters());
                reads.read(&tun).await
            }
            other => other,
        }
        .or_else(skip_bad_read)?;
        if count == 0 {
            continue;
        }
        let Some(slot) = free_batch(&mut pool, &links).await else {
            lock(&shared.driver).broker_unavailable += count as u64;
            continue;
        };
        let Some(buffer) = pool.buffer(slot) else {
            continue;
        };
        publisher.handle_clock(super::presence::unix_now());
        if let Some(presence) = &batch_peers {
            let presence = lock(presence);
            if presence.generation() != peers_seen {
                peers_seen = presence.generation();
                publisher.set_batch_peers(presence.batch_peers());
            }
        }
        let framed = fill_batch(&tun, &mut reads, &mut publisher, buffer, count)?;
        if framed > 0 {
            queue_batch(&links, pool.share(slot), duplicate, framed, &shared);
        }
        sync.maybe(publisher.tunnel().counters());
    }
}

/// A batch buffer to fill, once one is free: while every one is in flight
/// the TUN device is not read (its queue fills and the kernel slows the
/// senders down) rather than packets dropped. `None` when no link is up.
async fn free_batch(pool: &mut BatchPool, links: &[LinkHandle]) -> Option<usize> {
    let any_up = || links.iter().any(|l| l.shared.up.load(Ordering::Relaxed));
    let freed = &links.first()?.shared.freed;
    loop {
        if !any_up() {
            return None;
        }
        if let Some(slot) = pool.acquire() {
            return Some(slot);
        }
        // A writer stuck on a dead broker gives up within WRITE_DEADLINE and
        // the link goes down: look again now and then.
        let _ = tokio::time::timeout(Duration::from_millis(100), freed.notified()).await;
    }
}

/// Seals and frames into `buffer` the `count` packets just read, then
/// those of further reads as long as the TUN device has packets ready and
/// the batch is not full; returns how many packets were framed.
fn fill_batch(
    tun: &AsyncDevice,
    reads: &mut TunReads,
    publisher: &mut Publisher,
    buffer: &mut Vec<u8>,
    mut count: usize,
) -> Result<u64, RunError> {
    let mut framed = 0u64;
    loop {
        framed += publisher
            .push_all(reads.packets(count), buffer)
            .map_err(|_| RunError::Random("getrandom failed".into()))?;
        if framed as usize >= MAX_BATCH_PACKETS || buffer.len() >= BATCH_BYTES {
            return Ok(framed);
        }
        count = match reads.try_read(tun) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(framed),
            other => other.or_else(skip_bad_read)?,
        };
    }
}

/// Queues `batch` (of `framed` packets) for the links that are up: every
/// one when `duplicate`, else the first that takes it. When none takes it
/// its packets count as dropped for want of a broker.
fn queue_batch(
    links: &[LinkHandle],
    batch: Batch,
    duplicate: bool,
    framed: u64,
    shared: &SharedCounters,
) {
    let mut queued = false;
    for link in links {
        if link.shared.up.load(Ordering::Relaxed) && link.data.try_send(batch.clone()).is_ok() {
            queued = true;
            if !duplicate {
                break;
            }
        }
    }
    if !queued {
        lock(&shared.driver).broker_unavailable += framed;
    }
}

/// A TUN read that failed on what was read (a malformed offload header, a
/// packet too long for the buffers) loses that read only; any other error
/// ends the node.
fn skip_bad_read(e: std::io::Error) -> Result<usize, RunError> {
    use std::io::ErrorKind::{InvalidData, InvalidInput, Other};
    if matches!(e.kind(), InvalidData | InvalidInput | Other) {
        tracing::debug!("dropped a TUN read: {e}");
        Ok(0)
    } else {
        Err(RunError::TunIo(e))
    }
}

/// Buffers for TUN reads: with offload one read returns a TCP or UDP
/// super-segment of up to 64 KB that is split into MTU-sized packets here
/// (the packets on the wire are the same as without offload).
struct TunReads {
    original: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
}

impl TunReads {
    /// Buffers for packets of up to `mtu` bytes.
    fn new(mtu: usize) -> Self {
        // Enough packets for a 64 KB segment at the smallest MSS of this MTU.
        let count = (65_535 / mtu.saturating_sub(60).max(500) + 2).min(tun_rs::IDEAL_BATCH_SIZE);
        Self {
            original: vec![0; tun_rs::VIRTIO_NET_HDR_LEN + 65_535],
            bufs: vec![vec![0; mtu + 64]; count],
            sizes: vec![0; count],
        }
    }

    /// Most packets one read returns.
    fn capacity(&self) -> usize {
        self.bufs.len()
    }

    /// Waits for packets; returns how many were read.
    async fn read(&mut self, tun: &AsyncDevice) -> std::io::Result<usize> {
        tun.recv_multiple(&mut self.original, &mut self.bufs, &mut self.sizes, 0)
            .await
    }

    /// Reads the packets ready, if any (else `WouldBlock`).
    fn try_read(&mut self, tun: &AsyncDevice) -> std::io::Result<usize> {
        tun.try_recv_multiple(&mut self.original, &mut self.bufs, &mut self.sizes, 0)
    }

    /// The `count` packets of the last read.
    fn packets(&self, count: usize) -> impl Iterator<Item = &[u8]> {
        self.bufs
            .iter()
            .zip(&self.sizes)
            .take(count)
            .map(|(buf, &len)| &buf[..len.min(buf.len())])
    }
}

/// Room in front of each packet written to the TUN device, for the
/// virtio-net header that offload writes carry.
const TUN_HEADROOM: usize = 16;
/// Packets collected before one TUN write call. GRO coalesces a flow's
/// packets of one write into its first packet's buffer, and every buffer
/// that has been a first one keeps its pages: 64 buffers grew a busy
/// receiver's heap by 1.1 MB, where 32 keep it near its idle size at the
/// same throughput for one packet per message.
const TUN_WRITE_BATCH: usize = 32;
/// With wire-v2 batches (up to ~45 packets of one TCP flow per message) a
/// whole batch fits one write and is coalesced at once: 3.0 × the broker's
/// ceiling with four streams, against 2.2 × with 32.
const TUN_WRITE_BATCH_BATCHES: usize = 64;

/// Packets received from the brokers, written to the TUN device together:
/// with offload, consecutive TCP segments of one flow are coalesced (GRO)
/// into one write, so the kernel handles one large segment instead of many.
struct TunWrites {
    bufs: Vec<Vec<u8>>,
    count: usize,
    gro: tun_rs::GROTable,
    /// Where a message's packets are opened (one, or a wire-v2 batch)
    /// before they are moved into `bufs`.
    opened: Vec<u8>,
}

impl TunWrites {
    /// Buffers for packets of up to `mtu` bytes, and for batches of up to
    /// `batch` bytes.
    fn new(mtu: usize, batch: usize) -> Self {
        let room = mtu + 1024;
        // GRO appends the segments of a flow to its first packet's buffer,
        // and only where the capacity allows: room for a 64 KB segment.
        let buffer = || {
            let mut buf = Vec::with_capacity(TUN_HEADROOM + 65_535 + room);
            buf.resize(TUN_HEADROOM + room, 0);
            buf
        };
        let count = if batch > 0 {
            TUN_WRITE_BATCH_BATCHES
        } else {
            TUN_WRITE_BATCH
        };
        Self {
            bufs: (0..count).map(|_| buffer()).collect(),
            count: 0,
            gro: tun_rs::GROTable::default(),
            opened: vec![0; room.max(batch + 1024)],
        }
    }

    /// Where the core opens the next message.
    fn opened(&mut self) -> &mut [u8] {
        &mut self.opened
    }

    /// Queues the next packet of the first `len` opened bytes, from `*at`
    /// on (the core checked that they are whole packets); `None` when none
    /// is left, else whether the batch of writes is full.
    fn take_packet(&mut self, len: usize, at: &mut usize) -> Option<bool> {
        let packet = crate::ip::packets(&self.opened[*at..len]).next()?;
        *at += packet.len();
        let buf = &mut self.bufs[self.count];
        buf.clear();
        buf.resize(TUN_HEADROOM, 0);
        buf.extend_from_slice(packet);
        self.count += 1;
        Some(self.count == self.bufs.len())
    }

    /// Writes the collected packets, if any (a failure is only logged).
    async fn flush(&mut self, tun: &AsyncDevice) {
        if self.count == 0 {
            return;
        }
        let n = std::mem::take(&mut self.count);
        if let Err(e) = tun
            .send_multiple(&mut self.gro, &mut self.bufs[..n], TUN_HEADROOM)
            .await
        {
            tracing::debug!("TUN write of {n} packets: {e}");
        }
    }
}

/// Writes one connection's bytes: the link's control packets first, then
/// batches. Ends when the control sender is dropped (after a DISCONNECT, if
/// queued) or a write fails or takes longer than [`WRITE_DEADLINE`], which
/// it reports.
async fn writer(
    mut stream: WriteHalf<Box<dyn BrokerStream>>,
    mut control: mpsc::Receiver<Vec<u8>>,
    data: Arc<tokio::sync::Mutex<mpsc::Receiver<Batch>>>,
    link: Arc<LinkShared>,
    report: (mpsc::Sender<News>, usize, u64),
) {
    let mut data = data.lock().await;
    // Batches queued for an earlier connection of this link.
    while data.try_recv().is_ok() {}
    link.freed.notify_one();
    let result: std::io::Result<()> = async {
        loop {
            let write = async {
                tokio::select! {
                    biased;
                    bytes = control.recv() => match bytes {
                        Some(bytes) => stream.write_all(&bytes).await?,
                        None => return stream.shutdown().await.map(|()| false),
                    },
                    Some(batch) = data.recv() => {
                        stream.write_all(&batch).await?;
                        drop(batch);
                        link.freed.notify_one();
                    }
                }
                stream.flush().await.map(|()| true)
            };
            match tokio::time::timeout(WRITE_DEADLINE, write).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the broker does not read what this node sends",
                    ));
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        link.up.store(false, Ordering::Relaxed);
        let (news, index, attempt) = report;
        let _ = news.try_send(News::WriteFailed(index, attempt, e.to_string()));
    }
}

/// What woke the inbound task.
enum Wake {
    /// The node stops.
    Stop,
    /// News from a link's tasks (`None`: the channel closed).
    News(Option<News>),
    /// A read from the socket of link `.0` ended (with the bytes read).
    Read(usize, std::io::Result<usize>),
    /// The timer fired (see [`next_wake`]).
    Timer,
}

/// Presence, if the node announces itself.
pub type SharedPresence = Option<Arc<Mutex<super::presence::Presence>>>;

/// What every link of the inbound task shares.
struct Common {
    tun: Arc<AsyncDevice>,
    tunnel: Receiver,
    writes: TunWrites,
    shared: Arc<SharedCounters>,
    presence: SharedPresence,
    /// The status topics' prefix (with its `/`).
    status_prefix: Option<String>,
    news: mpsc::Sender<News>,
    start: tokio::time::Instant,
}

impl Common {
    /// What the links share, its clock starting now; `news` is where the
    /// links' tasks report.
    fn new(
        tun: Arc<AsyncDevice>,
        tunnel: Receiver,
        shared: Arc<SharedCounters>,
        presence: SharedPresence,
        news: mpsc::Sender<News>,
    ) -> Self {
        let status_prefix = presence
            .as_ref()
            .map(|p| lock(p).filter().trim_end_matches('+').to_owned());
        Self {
            writes: TunWrites::new(tunnel.config().mtu, tunnel.config().batch_receive),
            tun,
            tunnel,
            shared,
            presence,
            status_prefix,
            news,
            start: tokio::time::Instant::now(),
        }
    }

    /// Milliseconds since the task started: the links' clock.
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// Drives every broker link (see the module docs). When `stop` fires it
/// says goodbye: an offline status (if `presence`), a DISCONNECT to every
/// broker, and waits up to a second for the writers to send them.
pub async fn inbound(
    tun: Arc<AsyncDevice>,
    links: Vec<InboundLink>,
    tunnel: Receiver,
    shared: Arc<SharedCounters>,
    presence: SharedPresence,
    mut stop: mpsc::Receiver<()>,
) -> Result<(), RunError> {
    let (news, mut news_rx) = mpsc::channel(4 * links.len().max(1));
    let mut task = InboundTask {
        common: Common::new(tun, tunnel, shared.clone(), presence, news),
        links,
        buf: vec![0u8; READ_BUFFER],
        sync: CounterSync::new(shared, Direction::Inbound),
        first: 0,
    };
    let timer = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(timer);
    loop {
        let now = task.common.now_ms();
        for link in &mut task.links {
            link.drive(&mut task.common, now);
        }
        timer
            .as_mut()
            .reset(next_wake(&task.links, &task.common, &task.sync));
        let wake = poll_fn(|cx| task.poll_wake(cx, &mut stop, &mut news_rx, timer.as_mut())).await;
        if let ControlFlow::Break(result) = task.handle(wake).await {
            return result;
        }
    }
}

/// The state of the inbound task.
struct InboundTask {
    /// What the links share.
    common: Common,
    /// Every broker link.
    links: Vec<InboundLink>,
    /// Where socket reads go.
    buf: Vec<u8>,
    /// Copies the inbound counters for reports.
    sync: CounterSync,
    /// The link whose socket is polled first, so that a busy broker cannot
    /// starve the others.
    first: usize,
}

impl InboundTask {
    /// Polls for what should wake the task, in this order: `stop`, news
    /// from the links' tasks, a broker socket (from link `first` on; not
    /// those holding input, whose writers lag), the timer.
    fn poll_wake(
        &mut self,
        cx: &mut Context<'_>,
        stop: &mut mpsc::Receiver<()>,
        news: &mut mpsc::Receiver<News>,
        timer: Pin<&mut tokio::time::Sleep>,
    ) -> Poll<Wake> {
        if stop.poll_recv(cx).is_ready() {
            return Poll::Ready(Wake::Stop);
        }
        if let Poll::Ready(news) = news.poll_recv(cx) {
            return Poll::Ready(Wake::News(news));
        }
        let n = self.links.len();
        for k in 0..n {
            let i = (self.first + k) % n;
            if !self.links[i].held.is_empty() {
                continue; // backpressure: its writer lags
            }
            if let Some(reader) = self.links[i].reader.as_mut() {
                let mut read = ReadBuf::new(&mut self.buf);
                if let Poll::Ready(r) = Pin::new(reader).poll_read(cx, &mut read) {
                    return Poll::Ready(Wake::Read(i, r.map(|()| read.filled().len())));
                }
            }
        }
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        Poll::Pending
    }

    /// Does what `wake` asks; breaks with the task's outcome when it ends.
    async fn handle(&mut self, wake: Wake) -> ControlFlow<Result<(), RunError>> {
        let now = self.common.now_ms();
        match wake {
            Wake::Stop => {
                goodbye(&mut self.links, self.common.presence.as_ref(), now).await;
                return ControlFlow::Break(Ok(()));
            }
            Wake::News(None) => {
                return ControlFlow::Break(Err(RunError::Runtime(
                    "link news channel closed".into(),
                )));
            }
            Wake::News(Some(news)) => {
                let (News::Opened(i, ..) | News::WriteFailed(i, ..)) = news;
                if let Some(link) = self.links.get_mut(i) {
                    link.news(news, now, &self.common);
                }
            }
            Wake::Read(i, Ok(0)) => {
                self.links[i].lost("the broker closed the connection".into(), now);
            }
            Wake::Read(i, Err(e)) => self.links[i].lost(format!("connection lost: {e}"), now),
            Wake::Read(i, Ok(n)) => {
                self.first = (i + 1) % self.links.len();
                self.links[i]
                    .feed(&self.buf[..n], &mut self.common, now)
                    .await;
                self.common.writes.flush(&self.common.tun).await;
                self.sync.maybe(self.common.tunnel.counters());
            }
            Wake::Timer => {
                for link in &mut self.links {
                    link.timer(&mut self.common, now).await;
                }
                self.common.writes.flush(&self.common.tun).await;
                self.sync.flush(self.common.tunnel.counters());
            }
        }
        ControlFlow::Continue(())
    }
}

/// When the inbound task must wake without I/O: the earliest link timer, a
/// stalled link's retry, or unflushed counters.
fn next_wake(links: &[InboundLink], common: &Common, sync: &CounterSync) -> tokio::time::Instant {
    let mut at = common.start + Duration::from_secs(86_400 * 365);
    for link in links {
        if let Some(ms) = link.link.poll_timeout() {
            at = at.min(common.start + Duration::from_millis(ms));
        }
        if !link.held.is_empty() {
            at = at.min(tokio::time::Instant::now() + STALL_RETRY);
        }
    }
    if let Some(due) = sync.due() {
        at = at.min(tokio::time::Instant::from_std(due));
    }
    at
}

impl InboundLink {
    /// Does what the core link asks (connect, close, report) and hands its
    /// transmit bytes to the writer.
    fn drive(&mut self, common: &mut Common, now: u64) {
        while let Some(event) = self.link.poll_event() {
            match event {
                LinkEvent::Connect => self.connect(common),
                LinkEvent::Connected => self.connected(common),
                LinkEvent::Down {
                    error, retry_in_ms, ..
                } => self.down(error, retry_in_ms, common),
                LinkEvent::SubscribeRefused { index } => tracing::error!(
                    "broker {}: the subscription to {} was refused (check its ACLs)",
                    self.shared.url,
                    self.link.filter(index).unwrap_or("?")
                ),
            }
        }
        self.flush(now);
    }

    /// Starts connection attempt number `attempt + 1` in its own task.
    fn connect(&mut self, common: &Common) {
        self.attempt += 1;
        let (index, attempt) = (self.index, self.attempt);
        let connector = self.connector.clone();
        let news = common.news.clone();
        self.opening = Some(tokio::spawn(async move {
            let result = connector.connect().await;
            let _ = news.send(News::Opened(index, attempt, result)).await;
        }));
    }

    /// The broker accepted the session: counts it and publishes this
    /// node's status.
    fn connected(&mut self, common: &Common) {
        self.shared.up.store(true, Ordering::Relaxed);
        self.shared.connects.fetch_add(1, Ordering::Relaxed);
        lock(&common.shared.driver).connects += 1;
        tracing::info!("connected to {}", self.shared.url);
        if let Some(presence) = &common.presence {
            let (topic, message) = {
                let p = lock(presence);
                (p.topic(), p.online_message())
            };
            if let Err(e) = self.link.publish_retained(&topic, &message) {
                tracing::warn!("cannot publish this node's status: {e}");
            }
        }
    }

    /// The session is down: drops its I/O and records and logs why.
    fn down(&mut self, error: LinkError, retry_in_ms: u64, common: &Common) {
        self.close();
        let why = self.why.take().unwrap_or_else(|| match error {
            LinkError::Session(crate::mqtt::ConnectionError::Refused(_)) => {
                format!("{error} (check -u/-p and the broker's ACLs)")
            }
            _ => error.to_string(),
        });
        self.shared.set_error(&why);
        lock(&common.shared.driver).connection_errors += 1;
        tracing::warn!(
            "broker {}: {why}; reconnecting in {:.1}s",
            self.shared.url,
            retry_in_ms as f32 / 1000.0
        );
    }

    /// News from this link's tasks: ignored unless about the current attempt.
    fn news(&mut self, news: News, now: u64, common: &Common) {
        match news {
            News::Opened(_, attempt, result) if attempt == self.attempt => {
                self.opening = None;
                match result {
                    Ok(stream) => self.open(stream, now, &common.news),
                    Err(e) => {
                        self.why = Some(e.to_string());
                        let _ = self.link.handle_closed(now, LinkError::ConnectFailed);
                    }
                }
            }
            News::WriteFailed(_, attempt, why) if attempt == self.attempt => {
                self.lost(format!("writing: {why}"), now);
            }
            News::Opened(..) | News::WriteFailed(..) => {}
        }
    }

    /// Takes a new connection: the link queues its CONNECT, a writer starts.
    fn open(&mut self, stream: Box<dyn BrokerStream>, now: u64, news: &mpsc::Sender<News>) {
        if self.link.handle_connected(now).is_err() {
            return; // given up meanwhile (the connect timeout)
        }
        let (reader, writer_half) = tokio::io::split(stream);
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        self.reader = Some(reader);
        self.control = Some(control);
        self.held.clear();
        self.held_since = None;
        self.writer = Some(tokio::spawn(writer(
            writer_half,
            control_rx,
            self.data.clone(),
            self.shared.clone(),
            (news.clone(), self.index, self.attempt),
        )));
    }

    /// The connection is over as the driver saw it.
    fn lost(&mut self, why: String, now: u64) {
        if self.reader.is_none() && self.opening.is_none() {
            return;
        }
        self.why = Some(why);
        let _ = self.link.handle_closed(now, LinkError::Closed);
    }

    /// Feeds broker bytes to the link; what it cannot take yet (its writer
    /// lags) is held and the socket is not read until it drains.
    async fn feed(&mut self, mut input: &[u8], common: &mut Common, now: u64) {
        let Common {
            tun,
            tunnel,
            writes,
            presence,
            status_prefix,
            ..
        } = common;
        let mut status = |topic: &str, payload: &[u8]| match (&*presence, &*status_prefix) {
            (Some(presence), Some(prefix)) if topic.starts_with(prefix.as_str()) => {
                // Status messages are rare: a lock here costs nothing per packet.
                lock(presence).handle(topic, payload);
                true
            }
            _ => false,
        };
        tunnel.handle_clock(super::presence::unix_now());
        while !input.is_empty() {
            let fed = self
                .link
                .handle_bytes(input, now, tunnel, writes.opened(), &mut status);
            input = &input[fed.used..];
            if let Some(len) = fed.packet {
                let mut at = 0;
                while let Some(full) = writes.take_packet(len, &mut at) {
                    if full {
                        writes.flush(tun).await;
                    }
                }
            }
            if let Some(reason) = fed.dropped {
                tracing::trace!("dropped a message from {}: {reason}", self.shared.url);
            }
            if fed.stalled && !self.flush(now) {
                break;
            }
        }
        self.flush(now);
        self.held.extend_from_slice(input);
        if self.held.is_empty() {
            self.held_since = None;
        } else {
            self.held_since
                .get_or_insert_with(tokio::time::Instant::now);
        }
        let oversize = self.link.stats().oversize_skipped;
        if oversize > self.oversize_seen {
            lock(&common.shared.driver).oversize += oversize - self.oversize_seen;
            self.oversize_seen = oversize;
        }
    }

    /// The link's timers, a retry of held input, the keepalive's round trip.
    async fn timer(&mut self, common: &mut Common, now: u64) {
        if self.link.poll_timeout().is_some_and(|due| now >= due) {
            self.link.handle_timeout(now);
        }
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.feed(&held, common, now).await;
            if self
                .held_since
                .is_some_and(|since| since.elapsed() >= WRITE_DEADLINE)
            {
                self.lost("the broker does not read what this node sends".into(), now);
            }
        }
        self.shared
            .rtt_ms
            .store(self.link.stats().ping_rtt_ms, Ordering::Relaxed);
    }

    /// Hands the link's transmit bytes to the writer; false when the
    /// writer's queue is full (or there is no writer).
    fn flush(&mut self, now: u64) -> bool {
        let pending = self.link.transmit();
        if pending.is_empty() {
            return true;
        }
        let Some(control) = &self.control else {
            return false;
        };
        let n = pending.len();
        match control.try_send(pending.to_vec()) {
            Ok(()) => {
                self.link.consume(n, now);
                true
            }
            Err(_) => false,
        }
    }

    /// Drops the connection's I/O (or the attempt to open one).
    fn close(&mut self) {
        self.shared.up.store(false, Ordering::Relaxed);
        self.reader = None;
        self.control = None;
        self.held.clear();
        self.held_since = None;
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
        if let Some(opening) = self.opening.take() {
            opening.abort();
        }
    }
}

/// A clean stop: an offline status and a DISCONNECT on every live link,
/// then up to a second for the writers to send them.
async fn goodbye(
    links: &mut [InboundLink],
    presence: Option<&Arc<Mutex<super::presence::Presence>>>,
    now_ms: u64,
) {
    let farewell = presence.map(|p| {
        let p = lock(p);
        (
            p.topic(),
            p.offline_message(Some(super::presence::unix_now())),
        )
    });
    let mut writers = Vec::new();
    for link in links.iter_mut() {
        if link.link.is_connected() {
            if let Some((topic, message)) = &farewell {
                let _ = link.link.publish_retained(topic, message);
            }
        }
        if link.link.shutdown() {
            link.flush(now_ms);
        }
        link.shared.up.store(false, Ordering::Relaxed);
        // Dropping the control sender lets the writer finish and shut the
        // stream down.
        link.control = None;
        link.reader = None;
        if let Some(opening) = link.opening.take() {
            opening.abort();
        }
        writers.extend(link.writer.take());
    }
    let all = async {
        for writer in writers {
            let _ = writer.await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), all).await;
}
