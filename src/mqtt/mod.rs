//! A sans-IO MQTT 3.1.1 client for the embedded path.
//!
//! [`codec`] encodes and decodes packets and cuts a byte stream into them;
//! [`session`] is one connection's state: CONNECT and CONNACK, SUBSCRIBE
//! and UNSUBSCRIBE with packet identifiers, PUBLISH at QoS 0 out and any QoS
//! in (acknowledged, delivered once), keepalive pings and dead-link
//! detection. Like the rest of the core it is `no_std` + `alloc`, reads no
//! clock or socket, and allocates its buffers once, in [`Session::new`].
//!
//! ## Driving a session
//!
//! The driver owns the TCP connection and the clock (milliseconds, any
//! monotonic origin). On each new TCP connection it calls
//! [`Session::connect`]; then, in its loop:
//!
//! * received bytes go to [`Session::handle_bytes`], which takes them up to
//!   the end of one packet and says how many it took; the packet's events
//!   come out of [`Session::poll_event`] before the rest goes in. A publish
//!   borrows the session's receive buffer, so nothing is allocated per
//!   message.
//! * bytes to send come out of [`Session::poll_transmit`] (or
//!   [`Session::transmit`] and [`Session::consume`] without a copy);
//! * at [`Session::poll_timeout`] it calls [`Session::handle_timeout`].
//!
//! An error from `handle_bytes` or `handle_timeout` means the connection is
//! over: the driver closes it, reconnects, calls `connect` and subscribes
//! again (sessions are always clean).
//!
//! ```
//! use mqttvpn::mqtt::{Event, Options, QoS, Session};
//!
//! let mut session = Session::new(Options::new("node-10.0.1.2")).unwrap();
//! session.connect(0);
//! let mut out = [0u8; 256];
//! let n = session.poll_transmit(&mut out, 0);
//! assert_eq!(out[0], 0x10); // the CONNECT, for the socket
//! assert!(n > 12);
//!
//! // The broker accepts, then sends a message: both arrive in one read.
//! let mut input: &[u8] = &[0x20, 2, 0, 0, 0x30, 6, 0, 1, b't', 0xde, 0xad, 0xbe];
//! let mut messages = Vec::new();
//! while !input.is_empty() {
//!     let used = session.handle_bytes(input, 5).expect("connection failed");
//!     input = &input[used..];
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::Connected { .. } => {
//!                 session.subscribe(&["mqttip/10.0.1.2"], QoS::AtMostOnce).unwrap();
//!                 break; // the event's borrow ends here; poll again
//!             }
//!             Event::Publish { topic, payload } => messages.push((topic.to_owned(), payload.to_vec())),
//!             _ => {}
//!         }
//!     }
//! }
//! assert!(session.is_connected());
//! assert_eq!(messages, [("t".to_owned(), vec![0xde, 0xad, 0xbe])]);
//! session.publish("mqttip/10.0.1.1", b"an IP packet").unwrap();
//! let n = session.poll_transmit(&mut out, 6);
//! assert_eq!(out[0], 0x82); // SUBSCRIBE, then the PUBLISH
//! assert!(n > 30);
//! ```

pub mod codec;
pub mod session;

pub use codec::{ConnectRefused, DecodeError, QoS};
pub use session::{
    ConnectionError, Event, Options, OptionsError, PublishError, Session, State, Stats,
    SubscribeError, WillOptions,
};
