//! A sans-IO MQTT 3.1.1 client session for the embedded path (in progress).
