//! The embedded MQTT codec and session checked against rumqttc's encoder:
//! what we send is byte for byte what rumqttc sends, and what rumqttc (as a
//! broker would) sends is read back by our parser.

use bytes::BytesMut;
use mqttvpn::mqtt::codec::{ClientPacket, Connect, Framer, Publish, QoS, ServerPacket};
use mqttvpn::mqtt::{ConnectRefused, ConnectionError, Event, Options, Session};
use rumqttc::mqttbytes::QoS as RQoS;
use rumqttc::mqttbytes::v4 as r;

/// What a rumqttc `write` produced.
fn rumqttc_bytes(
    write: impl FnOnce(&mut BytesMut) -> Result<usize, rumqttc::mqttbytes::Error>,
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let n = write(&mut buf).expect("rumqttc encodes");
    assert_eq!(n, buf.len());
    buf.to_vec()
}

/// What our encoder produced.
fn our_bytes(packet: ClientPacket<'_>) -> Vec<u8> {
    let mut out = vec![0; packet.encoded_len().unwrap()];
    let n = packet.encode(&mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

#[test]
fn connect_without_login_matches_rumqttc() {
    let mut theirs = r::Connect::new("node-10.0.1.2");
    theirs.keep_alive = 30;
    let ours = ClientPacket::Connect(Connect {
        client_id: "node-10.0.1.2",
        username: None,
        password: None,
        keepalive_secs: 30,
        clean_session: true,
        will: None,
    });
    assert_eq!(our_bytes(ours), rumqttc_bytes(|b| theirs.write(b)));
}

#[test]
fn connect_with_login_matches_rumqttc() {
    let mut theirs = r::Connect::new("c");
    theirs.keep_alive = 65_535;
    theirs.set_login("user name", "pass word");
    let ours = ClientPacket::Connect(Connect {
        client_id: "c",
        username: Some("user name"),
        password: Some(b"pass word"),
        keepalive_secs: 65_535,
        clean_session: true,
        will: None,
    });
    assert_eq!(our_bytes(ours), rumqttc_bytes(|b| theirs.write(b)));
}

#[test]
fn a_connect_with_a_retained_will_and_login_matches_rumqttc() {
    let mut theirs = r::Connect::new("node-10.0.1.1");
    theirs.keep_alive = 20;
    theirs.set_login("u", "p");
    theirs.last_will = Some(r::LastWill::new(
        "mqttip-status/10.0.1.1",
        &b"{\"online\":false}"[..],
        RQoS::AtMostOnce,
        true,
    ));
    let mut options = Options::new("node-10.0.1.1")
        .with_login("u", b"p")
        .with_keepalive(20);
    options.will = Some(mqttvpn::mqtt::WillOptions {
        topic: "mqttip-status/10.0.1.1".into(),
        payload: b"{\"online\":false}".to_vec(),
        retain: true,
    });
    let mut session = Session::new(options).unwrap();
    session.connect(0);
    assert_eq!(session.transmit(), rumqttc_bytes(|b| theirs.write(b)));
}

#[test]
fn a_retained_publish_matches_rumqttc() {
    let mut theirs = r::Publish::new("mqttip-status/10.0.1.1", RQoS::AtMostOnce, &b"{}"[..]);
    theirs.retain = true;
    let ours = ClientPacket::PublishRetained {
        topic: "mqttip-status/10.0.1.1",
        payload: b"{}",
    };
    assert_eq!(our_bytes(ours), rumqttc_bytes(|b| theirs.write(b)));
}

#[test]
fn a_session_connect_matches_rumqttc() {
    let mut session = Session::new(
        Options::new("esp-01")
            .with_login("u", b"p")
            .with_keepalive(15),
    )
    .unwrap();
    session.connect(0);
    let mut theirs = r::Connect::new("esp-01");
    theirs.keep_alive = 15;
    theirs.set_login("u", "p");
    assert_eq!(session.transmit(), rumqttc_bytes(|b| theirs.write(b)));
}

#[test]
fn subscribe_matches_rumqttc() {
    for (qos, rqos) in [
        (QoS::AtMostOnce, RQoS::AtMostOnce),
        (QoS::AtLeastOnce, RQoS::AtLeastOnce),
    ] {
        let filters = ["mqttip/10.0.1.2", "mqttip/10.0.1.255", "mqttip/#"];
        let mut theirs = r::Subscribe::new_many(
            filters
                .iter()
                .map(|f| r::SubscribeFilter::new(f.to_string(), rqos)),
        );
        theirs.pkid = 0x0102;
        let ours = ClientPacket::Subscribe {
            packet_id: 0x0102,
            filters: &filters,
            qos,
        };
        assert_eq!(our_bytes(ours), rumqttc_bytes(|b| theirs.write(b)));
    }
}

#[test]
fn unsubscribe_matches_rumqttc() {
    let mut theirs = r::Unsubscribe::new("mqttip/10.0.1.2");
    theirs.topics.push("mqttip/#".to_string());
    theirs.pkid = 77;
    let ours = ClientPacket::Unsubscribe {
        packet_id: 77,
        filters: &["mqttip/10.0.1.2", "mqttip/#"],
    };
    assert_eq!(our_bytes(ours), rumqttc_bytes(|b| theirs.write(b)));
}

#[test]
fn qos0_publish_matches_rumqttc_for_every_remaining_length_size() {
    // Remaining lengths of 1, 2, 3 and 4 bytes.
    for len in [0, 100, 1500, 20_000, 2_100_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let theirs = r::Publish::new("mqttip/10.0.1.2", RQoS::AtMostOnce, payload.clone());
        let ours = ClientPacket::Publish {
            topic: "mqttip/10.0.1.2",
            payload: &payload,
        };
        assert_eq!(
            our_bytes(ours),
            rumqttc_bytes(|b| theirs.write(b)),
            "payload {len}"
        );
    }
}

#[test]
fn acknowledgements_ping_and_disconnect_match_rumqttc() {
    assert_eq!(
        our_bytes(ClientPacket::PubAck(513)),
        rumqttc_bytes(|b| r::PubAck::new(513).write(b))
    );
    assert_eq!(
        our_bytes(ClientPacket::PubRec(513)),
        rumqttc_bytes(|b| r::PubRec::new(513).write(b))
    );
    assert_eq!(
        our_bytes(ClientPacket::PubComp(513)),
        rumqttc_bytes(|b| r::PubComp::new(513).write(b))
    );
    assert_eq!(
        our_bytes(ClientPacket::PingReq),
        rumqttc_bytes(|b| r::PingReq.write(b))
    );
    assert_eq!(
        our_bytes(ClientPacket::Disconnect),
        rumqttc_bytes(|b| r::Disconnect.write(b))
    );
}

/// Cuts `stream` into packets with our framer and decodes each.
fn decode_all(stream: &[u8], f: &mut dyn FnMut(ServerPacket<'_>)) {
    let mut framer = Framer::new(1 << 22);
    let mut rest = stream;
    while !rest.is_empty() {
        let n = framer.read(rest).unwrap();
        rest = &rest[n..];
        let frame = framer.frame().expect("a whole packet");
        f(ServerPacket::decode(frame.first_byte, frame.body).unwrap());
    }
}

#[test]
fn rumqttc_connacks_decode_to_the_same_result() {
    let codes = [
        (r::ConnectReturnCode::Success, Ok(())),
        (
            r::ConnectReturnCode::RefusedProtocolVersion,
            Err(ConnectRefused::UnacceptableProtocolVersion),
        ),
        (
            r::ConnectReturnCode::BadClientId,
            Err(ConnectRefused::IdentifierRejected),
        ),
        (
            r::ConnectReturnCode::ServiceUnavailable,
            Err(ConnectRefused::ServerUnavailable),
        ),
        (
            r::ConnectReturnCode::BadUserNamePassword,
            Err(ConnectRefused::BadUserNameOrPassword),
        ),
        (
            r::ConnectReturnCode::NotAuthorized,
            Err(ConnectRefused::NotAuthorized),
        ),
    ];
    for (code, expected) in codes {
        for session_present in [false, true] {
            let bytes = rumqttc_bytes(|b| r::ConnAck::new(code, session_present).write(b));
            decode_all(&bytes, &mut |p| {
                assert_eq!(
                    p,
                    ServerPacket::ConnAck {
                        session_present,
                        result: expected
                    }
                );
            });
        }
        // And through a session.
        let mut session = Session::new(Options::new("c")).unwrap();
        session.connect(0);
        let bytes = rumqttc_bytes(|b| r::ConnAck::new(code, false).write(b));
        match expected {
            Ok(()) => {
                assert_eq!(session.handle_bytes(&bytes, 1), Ok(4));
                assert_eq!(
                    session.poll_event(),
                    Some(Event::Connected {
                        session_present: false
                    })
                );
            }
            Err(refused) => {
                assert_eq!(
                    session.handle_bytes(&bytes, 1),
                    Err(ConnectionError::Refused(refused))
                );
            }
        }
    }
}

#[test]
fn rumqttc_subacks_and_unsubacks_decode() {
    let mut stream = rumqttc_bytes(|b| {
        r::SubAck::new(
            9,
            vec![
                r::SubscribeReasonCode::Success(RQoS::AtMostOnce),
                r::SubscribeReasonCode::Failure,
                r::SubscribeReasonCode::Success(RQoS::ExactlyOnce),
            ],
        )
        .write(b)
    });
    stream.extend(rumqttc_bytes(|b| r::UnsubAck::new(10).write(b)));
    stream.extend(rumqttc_bytes(|b| r::PingResp.write(b)));
    let mut packets = Vec::new();
    decode_all(&stream, &mut |p| packets.push(format!("{p:?}")));
    assert_eq!(
        packets,
        [
            format!(
                "{:?}",
                ServerPacket::SubAck {
                    packet_id: 9,
                    return_codes: &[0, 0x80, 2]
                }
            ),
            format!("{:?}", ServerPacket::UnsubAck(10)),
            format!("{:?}", ServerPacket::PingResp),
        ]
    );
}

#[test]
fn rumqttc_publishes_decode_at_every_qos() {
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let mut stream = Vec::new();
    for (qos, pkid) in [
        (RQoS::AtMostOnce, 0),
        (RQoS::AtLeastOnce, 1),
        (RQoS::ExactlyOnce, 65_535),
    ] {
        let mut p = r::Publish::new("mqttip/10.0.1.2", qos, payload.clone());
        p.pkid = pkid;
        p.retain = pkid == 1;
        stream.extend(rumqttc_bytes(|b| p.write(b)));
    }
    let mut seen = Vec::new();
    decode_all(&stream, &mut |p| match p {
        ServerPacket::Publish(Publish {
            topic,
            payload: got,
            qos,
            packet_id,
            dup,
            retain,
        }) => {
            assert_eq!(topic, "mqttip/10.0.1.2");
            assert_eq!(got, &payload[..]);
            assert!(!dup);
            seen.push((qos, packet_id, retain));
        }
        other => panic!("not a publish: {other:?}"),
    });
    assert_eq!(
        seen,
        [
            (QoS::AtMostOnce, None, false),
            (QoS::AtLeastOnce, Some(1), true),
            (QoS::ExactlyOnce, Some(65_535), false),
        ]
    );
}

#[test]
fn a_session_reads_a_rumqttc_stream_in_odd_chunks_and_acknowledges_like_rumqttc() {
    let mut stream =
        rumqttc_bytes(|b| r::ConnAck::new(r::ConnectReturnCode::Success, false).write(b));
    stream.extend(rumqttc_bytes(|b| {
        r::SubAck::new(1, vec![r::SubscribeReasonCode::Success(RQoS::AtLeastOnce)]).write(b)
    }));
    let payloads: Vec<Vec<u8>> = [1, 1500, 65_000].iter().map(|&n| vec![0x45; n]).collect();
    for (i, payload) in payloads.iter().enumerate() {
        let qos = [RQoS::AtMostOnce, RQoS::AtLeastOnce, RQoS::ExactlyOnce][i];
        let mut p = r::Publish::new("mqttip/10.0.1.2", qos, payload.clone());
        p.pkid = if i == 0 { 0 } else { 40 + i as u16 };
        stream.extend(rumqttc_bytes(|b| p.write(b)));
    }
    stream.extend(rumqttc_bytes(|b| r::PubRel::new(42).write(b)));

    let mut expected_tx = rumqttc_bytes(|b| r::PubAck::new(41).write(b));
    expected_tx.extend(rumqttc_bytes(|b| r::PubRec::new(42).write(b)));
    expected_tx.extend(rumqttc_bytes(|b| r::PubComp::new(42).write(b)));

    for chunk_size in [1, 13, 1460, stream.len()] {
        let options = Options {
            max_incoming: 66_000,
            ..Options::new("c")
        };
        let mut session = Session::new(options).unwrap();
        session.connect(0);
        assert_eq!(
            session.subscribe(&["mqttip/10.0.1.2"], QoS::AtLeastOnce),
            Ok(1)
        );
        let len = session.transmit().len();
        session.consume(len, 0);
        let mut received = Vec::new();
        let mut subscribed = false;
        for mut chunk in stream.chunks(chunk_size) {
            while !chunk.is_empty() {
                let n = session.handle_bytes(chunk, 1).unwrap();
                chunk = &chunk[n..];
                while let Some(event) = session.poll_event() {
                    match event {
                        Event::Publish { topic, payload } => {
                            assert_eq!(topic, "mqttip/10.0.1.2");
                            received.push(payload.to_vec());
                        }
                        Event::Subscribed { packet_id: 1 } => subscribed = true,
                        Event::Connected { .. } => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        }
        assert!(subscribed);
        assert_eq!(received, payloads, "chunks of {chunk_size}");
        assert_eq!(session.transmit(), expected_tx);
    }
}
