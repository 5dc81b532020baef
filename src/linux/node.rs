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
//! - one connector per broker: opens connections (TCP, TLS, WebSocket) with
//!   backoff and hands them to [`inbound`].
//!
//! The outbound and inbound tasks each own a copy of the core [`Tunnel`]
//! (its configuration does not change on Linux). Each copies its counters
//! into [`SharedCounters`] when it goes idle or every [`COUNTER_PERIOD`],
//! which is what status reports read.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tun_rs::AsyncDevice;

use super::RunError;
use super::pipeline::{Batch, BatchPool, BrokerLink, PublishDrop, Publisher};
use super::transport::{BrokerStream, Connector};
use crate::mqtt::session::ConnectionError;
use crate::tunnel::{Counters, Direction, DropReason, Tunnel};

/// Longest a counter snapshot lags behind a busy task.
pub const COUNTER_PERIOD: Duration = Duration::from_millis(100);
/// First reconnect delay; it doubles per failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest reconnect delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

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
            "tx_packets={} tx_bytes={} rx_packets={} rx_bytes={} connects={} connection_errors={} dropped_broker_unavailable={}",
            out.tx_packets,
            out.tx_bytes,
            inb.rx_packets,
            inb.rx_bytes,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a task died mid-copy; the counters are still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
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
    fn new(shared: Arc<SharedCounters>, direction: Direction) -> Self {
        Self {
            shared,
            direction,
            last: Instant::now(),
            dirty: false,
        }
    }

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
/// Batches in flight: the pool's size and each writer's queue length.
pub const BATCHES_IN_FLIGHT: usize = 32;
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
}

impl LinkShared {
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

/// One broker as the inbound task sees it.
pub struct InboundLink {
    link: BrokerLink,
    shared: Arc<LinkShared>,
    data: Arc<tokio::sync::Mutex<mpsc::Receiver<Batch>>>,
    ended: mpsc::Sender<(bool, String)>,
    reader: Option<ReadHalf<Box<dyn BrokerStream>>>,
    control: Option<mpsc::UnboundedSender<Vec<u8>>>,
    writer: Option<JoinHandle<()>>,
    established: bool,
}

/// A connection opened by a connector: the link's index and the stream.
pub type NewConnection = (usize, Box<dyn BrokerStream>);

/// Everything the tasks of one broker link need, made by [`link`].
pub struct LinkParts {
    /// For reports.
    pub shared: Arc<LinkShared>,
    /// For the outbound task.
    pub handle: LinkHandle,
    /// For the inbound task.
    pub inbound: InboundLink,
    /// The connector task's future.
    pub connector: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

/// Makes the parts of one broker link: `link` is its MQTT session,
/// `connector` opens its connections, which go to `connections`.
pub fn link(
    index: usize,
    link: BrokerLink,
    connector: Connector,
    connections: mpsc::Sender<NewConnection>,
    shared: Arc<SharedCounters>,
) -> LinkParts {
    let link_shared = Arc::new(LinkShared {
        url: connector.url().to_string(),
        up: AtomicBool::new(false),
        connects: AtomicU64::new(0),
        rtt_ms: AtomicU64::new(0),
        last_error: Mutex::new(None),
    });
    let (data_tx, data_rx) = mpsc::channel(BATCHES_IN_FLIGHT);
    let (ended_tx, ended_rx) = mpsc::channel(1);
    LinkParts {
        shared: link_shared.clone(),
        handle: LinkHandle {
            shared: link_shared.clone(),
            data: data_tx,
        },
        inbound: InboundLink {
            link,
            shared: link_shared.clone(),
            data: Arc::new(tokio::sync::Mutex::new(data_rx)),
            ended: ended_tx,
            reader: None,
            control: None,
            writer: None,
            established: false,
        },
        connector: Box::pin(connect_loop(
            index,
            connector,
            connections,
            ended_rx,
            shared,
            link_shared,
        )),
    }
}

/// Reads packets from the TUN device, seals and frames them in batches,
/// and queues each batch for the brokers: every link that is up when
/// `duplicate` (sealed mode with several brokers: receivers drop the second
/// copy by its nonce), else the first link that is up (plain mode cannot
/// tell copies apart, so it fails over instead).
pub async fn outbound(
    tun: Arc<AsyncDevice>,
    tunnel: Tunnel,
    links: Vec<LinkHandle>,
    duplicate: bool,
    shared: Arc<SharedCounters>,
) -> Result<(), RunError> {
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
        let mut count = match reads.try_read(&tun) {
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
        let any_up = links.iter().any(|l| l.shared.up.load(Ordering::Relaxed));
        let Some(slot) = any_up.then(|| pool.acquire()).flatten() else {
            lock(&shared.driver).broker_unavailable += count as u64;
            continue;
        };
        let Some(buffer) = pool.buffer(slot) else {
            continue;
        };
        let mut framed = 0u64;
        loop {
            for packet in reads.packets(count) {
                match publisher.push(packet, buffer) {
                    Ok(()) => framed += 1,
                    Err(PublishDrop::Random) => {
                        return Err(RunError::Random("getrandom failed".into()));
                    }
                    Err(PublishDrop::Tunnel(reason)) => tracing::trace!(
                        "dropped outbound packet of {} bytes: {reason}",
                        packet.len()
                    ),
                }
            }
            if framed as usize >= MAX_BATCH_PACKETS || buffer.len() >= BATCH_BYTES {
                break;
            }
            count = match reads.try_read(&tun) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                other => other.or_else(skip_bad_read)?,
            };
        }
        if framed > 0 {
            let batch = pool.share(slot);
            let mut queued = false;
            for link in &links {
                if link.shared.up.load(Ordering::Relaxed)
                    && link.data.try_send(batch.clone()).is_ok()
                {
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
        sync.maybe(publisher.tunnel().counters());
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
    fn new(mtu: usize) -> Self {
        // Enough packets for a 64 KB segment at the smallest MSS of this MTU.
        let count = (65_535 / mtu.saturating_sub(60).max(500) + 2).min(tun_rs::IDEAL_BATCH_SIZE);
        Self {
            original: vec![0; tun_rs::VIRTIO_NET_HDR_LEN + 65_535],
            bufs: vec![vec![0; mtu + 64]; count],
            sizes: vec![0; count],
        }
    }

    fn capacity(&self) -> usize {
        self.bufs.len()
    }

    async fn read(&mut self, tun: &AsyncDevice) -> std::io::Result<usize> {
        tun.recv_multiple(&mut self.original, &mut self.bufs, &mut self.sizes, 0)
            .await
    }

    fn try_read(&mut self, tun: &AsyncDevice) -> std::io::Result<usize> {
        tun.try_recv_multiple(&mut self.original, &mut self.bufs, &mut self.sizes, 0)
    }

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
/// Packets collected before one TUN write call.
const TUN_WRITE_BATCH: usize = 64;

/// Packets received from the brokers, written to the TUN device together:
/// with offload, consecutive TCP segments of one flow are coalesced (GRO)
/// into one write, so the kernel handles one large segment instead of many.
struct TunWrites {
    bufs: Vec<Vec<u8>>,
    room: usize,
    count: usize,
    gro: tun_rs::GROTable,
}

impl TunWrites {
    fn new(mtu: usize) -> Self {
        let room = mtu + 1024;
        // GRO appends the segments of a flow to its first packet's buffer,
        // and only where the capacity allows: room for a 64 KB segment.
        let buffer = || {
            let mut buf = Vec::with_capacity(TUN_HEADROOM + 65_535 + room);
            buf.resize(TUN_HEADROOM + room, 0);
            buf
        };
        Self {
            bufs: (0..TUN_WRITE_BATCH).map(|_| buffer()).collect(),
            room,
            count: 0,
            gro: tun_rs::GROTable::default(),
        }
    }

    /// Where the next packet goes.
    fn slot(&mut self) -> &mut [u8] {
        let buf = &mut self.bufs[self.count];
        buf.resize(TUN_HEADROOM + self.room, 0);
        &mut buf[TUN_HEADROOM..]
    }

    /// The packet of `len` bytes is in the slot; true when the batch is
    /// full.
    fn commit(&mut self, len: usize) -> bool {
        self.bufs[self.count].truncate(TUN_HEADROOM + len);
        self.count += 1;
        self.count == self.bufs.len()
    }

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

/// Writes one connection's bytes: the session's control packets first,
/// then batches. Ends when the control sender is dropped (after a
/// DISCONNECT, if queued) or a write fails.
async fn writer(
    mut stream: WriteHalf<Box<dyn BrokerStream>>,
    mut control: mpsc::UnboundedReceiver<Vec<u8>>,
    data: Arc<tokio::sync::Mutex<mpsc::Receiver<Batch>>>,
    link: Arc<LinkShared>,
) {
    let mut data = data.lock().await;
    // Batches queued for an earlier connection of this link.
    while data.try_recv().is_ok() {}
    let result: std::io::Result<()> = async {
        loop {
            tokio::select! {
                biased;
                bytes = control.recv() => match bytes {
                    Some(bytes) => stream.write_all(&bytes).await?,
                    None => return stream.shutdown().await,
                },
                Some(batch) = data.recv() => stream.write_all(&batch).await?,
            }
            stream.flush().await?;
        }
    }
    .await;
    if let Err(e) = result {
        link.up.store(false, Ordering::Relaxed);
        tracing::debug!("writing to broker {}: {e}", link.url);
    }
}

/// Opens connections to one broker with backoff, one at a time: the next
/// only after [`inbound`] reports the last one ended.
async fn connect_loop(
    index: usize,
    connector: Connector,
    connections: mpsc::Sender<NewConnection>,
    mut ended: mpsc::Receiver<(bool, String)>,
    shared: Arc<SharedCounters>,
    link: Arc<LinkShared>,
) {
    let url = connector.url().to_string();
    let mut backoff = MIN_BACKOFF;
    loop {
        match connector.connect().await {
            Ok(stream) => {
                if connections.send((index, stream)).await.is_err() {
                    return;
                }
                let Some((established, why)) = ended.recv().await else {
                    return;
                };
                if established {
                    backoff = MIN_BACKOFF;
                }
                tracing::warn!(
                    "broker {url}: {why}; reconnecting in {:.1}s",
                    backoff.as_secs_f32()
                );
            }
            Err(e) => {
                lock(&shared.driver).connection_errors += 1;
                link.set_error(&e.to_string());
                tracing::warn!(
                    "broker {url}: {e}; retrying in {:.1}s",
                    backoff.as_secs_f32()
                );
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Wake {
    Stop,
    Connection(Option<NewConnection>),
    Read(usize, std::io::Result<usize>),
    Timer,
}

/// Presence, if the node announces itself.
pub type SharedPresence = Option<Arc<Mutex<super::presence::Presence>>>;

/// Drives every broker session (see the module docs). When `stop` fires
/// it says goodbye: an offline status (if `presence`), a DISCONNECT to
/// every broker, and waits up to a second for the writers to send them.
pub async fn inbound(
    tun: Arc<AsyncDevice>,
    mut links: Vec<InboundLink>,
    mut connections: mpsc::Receiver<NewConnection>,
    mut tunnel: Tunnel,
    shared: Arc<SharedCounters>,
    presence: SharedPresence,
    mut stop: mpsc::Receiver<()>,
) -> Result<(), RunError> {
    let start = tokio::time::Instant::now();
    let now_ms = move || start.elapsed().as_millis() as u64;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut writes = TunWrites::new(tunnel.config().mtu);
    let mut sync = CounterSync::new(shared.clone(), Direction::Inbound);
    let timer = tokio::time::sleep(Duration::from_secs(3600));
    tokio::pin!(timer);
    let mut first = 0;
    loop {
        let deadline = links
            .iter()
            .filter(|l| l.reader.is_some())
            .filter_map(|l| l.link.poll_timeout())
            .min();
        let mut at = deadline.map_or(start + Duration::from_secs(86_400 * 365), |ms| {
            start + Duration::from_millis(ms)
        });
        if let Some(due) = sync.due() {
            at = at.min(tokio::time::Instant::from_std(due));
        }
        timer.as_mut().reset(at);
        let wake = poll_fn(|cx| {
            if stop.poll_recv(cx).is_ready() {
                return Poll::Ready(Wake::Stop);
            }
            if let Poll::Ready(c) = connections.poll_recv(cx) {
                return Poll::Ready(Wake::Connection(c));
            }
            let n = links.len();
            for k in 0..n {
                let i = (first + k) % n;
                if let Some(reader) = links[i].reader.as_mut() {
                    let mut read = ReadBuf::new(&mut buf);
                    if let Poll::Ready(r) = Pin::new(reader).poll_read(cx, &mut read) {
                        return Poll::Ready(Wake::Read(i, r.map(|()| read.filled().len())));
                    }
                }
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Timer);
            }
            Poll::Pending
        })
        .await;
        match wake {
            Wake::Stop => {
                goodbye(&mut links, presence.as_ref(), now_ms()).await;
                return Ok(());
            }
            Wake::Connection(None) => {
                return Err(RunError::Runtime("every broker connector stopped".into()));
            }
            Wake::Connection(Some((i, stream))) => {
                let Some(link) = links.get_mut(i) else {
                    continue;
                };
                link.open(stream, now_ms());
            }
            Wake::Read(i, Ok(0)) => {
                links[i].lost("the broker closed the connection".into(), &shared)
            }
            Wake::Read(i, Err(e)) => links[i].lost(format!("connection lost: {e}"), &shared),
            Wake::Read(i, Ok(n)) => {
                first = (i + 1) % links.len();
                let link = &mut links[i];
                let mut input = &buf[..n];
                while !input.is_empty() {
                    let fed = match link.link.feed(input, now_ms(), &mut tunnel, writes.slot()) {
                        Ok(fed) => fed,
                        Err(e) => {
                            link.lost(describe(e), &shared);
                            break;
                        }
                    };
                    input = &input[fed.used..];
                    if fed.connected {
                        link.established = true;
                        link.shared.up.store(true, Ordering::Relaxed);
                        link.shared.connects.fetch_add(1, Ordering::Relaxed);
                        lock(&shared.driver).connects += 1;
                        tracing::info!("connected to {}; subscribing", link.shared.url);
                        if let Some(presence) = &presence {
                            let (topic, message) = {
                                let p = lock(presence);
                                (p.topic(), p.online_message())
                            };
                            if let Err(e) = link.link.session().publish_retained(&topic, &message) {
                                tracing::warn!("cannot publish this node's status: {e}");
                            }
                        }
                    }
                    if let Some(len) = fed.packet {
                        if writes.commit(len) {
                            writes.flush(&tun).await;
                        }
                    }
                    if fed.needs_flush && !link.flush(now_ms()) {
                        link.lost("the session cannot send".into(), &shared);
                        break;
                    }
                }
                writes.flush(&tun).await;
                link.flush(now_ms());
                let oversize = link.link.take_oversize();
                if oversize > 0 {
                    lock(&shared.driver).oversize += oversize;
                }
                sync.maybe(tunnel.counters());
            }
            Wake::Timer => {
                let now = now_ms();
                for link in links.iter_mut().filter(|l| l.reader.is_some()) {
                    match link.link.session().handle_timeout(now) {
                        Ok(()) => {
                            link.flush(now);
                            let rtt = link.link.session().stats().ping_rtt_ms;
                            link.shared.rtt_ms.store(rtt, Ordering::Relaxed);
                        }
                        Err(e) => link.lost(describe(e), &shared),
                    }
                }
                sync.flush(tunnel.counters());
            }
        }
    }
}

impl InboundLink {
    /// Takes a new connection: starts the session and its writer.
    fn open(&mut self, stream: Box<dyn BrokerStream>, now_ms: u64) {
        self.close();
        let (reader, writer_half) = tokio::io::split(stream);
        let (control, control_rx) = mpsc::unbounded_channel();
        self.link.start(now_ms);
        self.reader = Some(reader);
        self.control = Some(control);
        self.flush(now_ms);
        self.writer = Some(tokio::spawn(writer(
            writer_half,
            control_rx,
            self.data.clone(),
            self.shared.clone(),
        )));
    }

    /// Hands the session's queued bytes to the writer; false if there is
    /// no writer.
    fn flush(&mut self, now_ms: u64) -> bool {
        let session = self.link.session();
        let pending = session.transmit();
        if pending.is_empty() {
            return true;
        }
        let Some(control) = &self.control else {
            return false;
        };
        let sent = control.send(pending.to_vec()).is_ok();
        let n = pending.len();
        session.consume(n, now_ms);
        sent
    }

    fn close(&mut self) {
        self.shared.up.store(false, Ordering::Relaxed);
        self.reader = None;
        self.control = None;
        if let Some(writer) = self.writer.take() {
            writer.abort();
        }
    }

    /// The connection is over: close it and tell the connector.
    fn lost(&mut self, why: String, shared: &SharedCounters) {
        if self.reader.is_none() {
            return;
        }
        self.close();
        self.shared.set_error(&why);
        lock(&shared.driver).connection_errors += 1;
        let established = std::mem::take(&mut self.established);
        let _ = self.ended.try_send((established, why));
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
    for link in links.iter_mut().filter(|l| l.reader.is_some()) {
        if let Some((topic, message)) = &farewell {
            let _ = link.link.session().publish_retained(topic, message);
        }
        link.link.session().disconnect();
        link.flush(now_ms);
        link.shared.up.store(false, Ordering::Relaxed);
        // Dropping the control sender lets the writer finish and shut the
        // stream down.
        link.control = None;
        link.reader = None;
        writers.extend(link.writer.take());
    }
    let all = async {
        for writer in writers {
            let _ = writer.await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), all).await;
}

fn describe(e: ConnectionError) -> String {
    match e {
        ConnectionError::Refused(code) => {
            format!("connection refused ({code}): check -u/-p and the broker's ACLs")
        }
        ConnectionError::Timeout => "the broker stopped answering (keepalive timeout)".into(),
        other => format!("session failed: {other}"),
    }
}
