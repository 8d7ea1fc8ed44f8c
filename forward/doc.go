// Package forward is a client of the Fluentd Forward protocol v1 in its
// PackedForward mode: one message carries a chunk of many records,
//
//	[tag, bin(entry entry ...), {"size": n, "chunk": id}]
//
// each entry being [EventTime, record] in msgpack. With ack on, the
// receiver answers {"ack": id} for each chunk, and several chunks may be
// awaiting their ack at once (a window), so that waiting for acks overlaps
// with sending instead of costing a round trip per record.
//
// The caller fills a Chunk (Append encodes straight into the chunk's
// buffer, without allocating once it has grown) and hands it to a
// Client, which writes it over TCP, TLS or a unix socket, with
// in_forward's shared-key handshake if asked, and reports each chunk as
// settled (acknowledged, or written without ack) in the order sent. A
// chunk that a failed connection leaves unsettled is sent again on the
// next connection; what a caller that gives up still holds is listed by
// Unsettled, to keep or spool. Acks are read while sending; a caller with
// nothing more to send calls Flush to collect the last ones.
//
// Every call takes a context and returns by its deadline, whatever the
// receiver does. No goroutine outlives a call.
//
// Not supported: the Message and Forward modes (Fluentd takes
// PackedForward), gzip-compressed chunks, user/password authentication,
// and the keepalive packets of in_forward's send_keepalive_packet.
package forward
