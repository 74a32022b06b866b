/// Renders a snapshot in the Prometheus text exposition format, version 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/): every family with its
/// `# HELP` and `# TYPE` lines, label values escaped, one family's samples together.
///
/// Serve it as `text/plain; version=0.0.4; charset=utf-8` (`Metrics.contentType`).
public enum Metrics {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The whole exposition for `snapshot`, ending with a newline.
    public static func render(_ snapshot: StatusSnapshot) -> String {
        var out = MetricsWriter()
        let services = snapshot.services

        out.family("ganger_sessions_total", .counter, "Sessions accepted since start, by service.")
        for s in services { out.sample("ganger_sessions_total", ["service": s.name], s.sessionsTotal) }
        out.family("ganger_sessions_current", .gauge, "Sessions open now, by service.")
        for s in services { out.sample("ganger_sessions_current", ["service": s.name], s.sessionsCurrent) }
        out.family("ganger_sessions_inherited", .gauge, "Sessions open now that were taken over from the previous process, by service.")
        for s in services {
            out.sample("ganger_sessions_inherited", ["service": s.name], (snapshot.liveSessions ?? []).filter { $0.service == s.name && $0.inherited }.count)
        }
        out.family("ganger_sessions_max", .gauge, "Highest number of sessions open at once since start, by service.")
        for s in services { out.sample("ganger_sessions_max", ["service": s.name], s.sessionsMax) }

        out.family("ganger_queue_current", .gauge, "Connections waiting for a container now, by service.")
        for s in services { out.sample("ganger_queue_current", ["service": s.name], s.queueCurrent) }
        out.family("ganger_queue_max", .gauge, "Configured queue capacity (queue.max), by service.")
        for s in services { out.sample("ganger_queue_max", ["service": s.name], s.queueMax) }
        out.family("ganger_queue_timeouts_total", .counter,
                   "Queued connections closed after queue.timeout without a container, by service.")
        for s in services { out.sample("ganger_queue_timeouts_total", ["service": s.name], s.queueTimeouts) }

        out.family("ganger_refused_total", .counter,
                   "Connections refused at once, by service and reason (queue_full, per_source).")
        for s in services {
            out.sample("ganger_refused_total", ["service": s.name, "reason": "queue_full"], s.refusedQueueFull)
            out.sample("ganger_refused_total", ["service": s.name, "reason": "per_source"], s.refusedPerSource)
        }

        if let relay = snapshot.relay {
            out.family("ganger_relay_pipes", .gauge, "Splice pipes, by state (lent: moving a relay's bytes now; idle: kept for reuse).")
            out.sample("ganger_relay_pipes", ["state": "lent"], relay.pipesLent)
            out.sample("ganger_relay_pipes", ["state": "idle"], relay.pipesIdle)
            out.family("ganger_relay_large_buffers", .gauge,
                       "Large copy buffers for fat streams (relay.large_buffers), by state (lent now, free); all lent: fat streams splice.")
            out.sample("ganger_relay_large_buffers", ["state": "lent"], relay.largeBuffersLent)
            out.sample("ganger_relay_large_buffers", ["state": "free"], max(0, relay.largeBuffersMax - relay.largeBuffersLent))
            out.family("ganger_relay_large_buffer_lends_total", .counter, "Times a fat stream borrowed a large copy buffer since start.")
            out.sample("ganger_relay_large_buffer_lends_total", [:], relay.largeBufferLends)
            if let small = relay.pipesSmall {
                out.family("ganger_relay_small_pipes_total", .counter,
                           "Splice pipes the kernel made smaller than asked since start (fs.pipe-user-pages-soft without CAP_SYS_RESOURCE).")
                out.sample("ganger_relay_small_pipes_total", [:], small)
            }
        }

        out.family("ganger_pool_warm", .gauge, "Warm containers kept for the service (starting or ready).")
        for s in services { out.sample("ganger_pool_warm", ["service": s.name], s.poolWarm) }
        out.family("ganger_pool_ready", .gauge, "Warm containers ready to take a session now.")
        for s in services { out.sample("ganger_pool_ready", ["service": s.name], s.poolReady) }

        // Network holders: only services with `netns.mode: holder` have samples.
        let holders = services.compactMap { s in s.holderFigures.map { (s.name, $0) } }
        out.family("ganger_holders_ready", .gauge, "Network holders ready now (netns.mode: holder), by service.")
        for (name, f) in holders { out.sample("ganger_holders_ready", ["service": name], f.ready) }
        out.family("ganger_holders_per_daemon", .gauge, "Holders the pool keeps on each healthy daemon (netns.holders), by service.")
        for (name, f) in holders { out.sample("ganger_holders_per_daemon", ["service": name], f.perDaemon) }
        out.family("ganger_holder_sessions_total", .counter,
                   "Cold sessions of holder-mode services, by service and path (holder: joined a holder's network namespace; normal: no holder ready, or it failed).")
        for (name, f) in holders {
            out.sample("ganger_holder_sessions_total", ["service": name, "path": "holder"], f.fastPath)
            out.sample("ganger_holder_sessions_total", ["service": name, "path": "normal"], f.normalPath)
        }
        out.family("ganger_holders_removed_total", .counter,
                   "Holders removed, by service and reason (retired: after netns.reuse sessions; discarded: after trouble).")
        for (name, f) in holders {
            out.sample("ganger_holders_removed_total", ["service": name, "reason": "retired"], f.retired)
            out.sample("ganger_holders_removed_total", ["service": name, "reason": "discarded"], f.discarded)
        }

        out.family("ganger_bytes_total", .counter,
                   "Bytes relayed, by service and direction (in: client to container, out: container to client).")
        for s in services {
            out.sample("ganger_bytes_total", ["service": s.name, "direction": "in"], s.bytesIn)
            out.sample("ganger_bytes_total", ["service": s.name, "direction": "out"], s.bytesOut)
        }

        out.family("ganger_session_ttfb_seconds", .histogram,
                   "Time from client connect to the first byte sent to the client, by service.")
        for s in services {
            let h = s.ttfbHistogram
            for bucket in h.buckets where bucket.le.isFinite {
                out.sample("ganger_session_ttfb_seconds_bucket", ["service": s.name, "le": format(bucket.le)], bucket.count)
            }
            out.sample("ganger_session_ttfb_seconds_bucket", ["service": s.name, "le": "+Inf"], h.count)
            out.sample("ganger_session_ttfb_seconds_sum", ["service": s.name], h.sum)
            out.sample("ganger_session_ttfb_seconds_count", ["service": s.name], h.count)
        }

        out.family("ganger_session_ends_total", .counter, "Sessions that ended, by service and close reason.")
        for s in services {
            for (reason, count) in s.endReasons.sorted(by: { $0.key < $1.key }) {
                out.sample("ganger_session_ends_total", ["service": s.name, "reason": reason], count)
            }
        }

        out.family("ganger_daemon_up", .gauge, "1 if the Docker daemon answers its health checks, else 0.")
        for d in snapshot.daemons { out.sample("ganger_daemon_up", ["daemon": d.url], d.up ? 1 : 0) }
        out.family("ganger_daemon_draining", .gauge,
                   "1 while the daemon is drained (left the Consul catalog: no new sessions, the current ones go on), else 0.")
        for d in snapshot.daemons { out.sample("ganger_daemon_draining", ["daemon": d.url], d.state == .draining ? 1 : 0) }
        out.family("ganger_daemon_degraded", .gauge,
                   "1 while a launch's Docker call on the daemon got no answer in time although it answers (it stalls on create, say), else 0.")
        for d in snapshot.daemons { out.sample("ganger_daemon_degraded", ["daemon": d.url], d.degraded ? 1 : 0) }
        out.family("ganger_daemon_held_off", .gauge,
                   "1 while the service's launches are held off the daemon because Docker there refused one (its image gone, a full disk) or does no launch work (stuck), else 0.")
        for d in snapshot.daemons {
            for service in snapshot.services.map(\.name) {
                out.sample("ganger_daemon_held_off", ["daemon": d.url, "service": service], d.heldOff.contains(service) ? 1 : 0)
            }
        }
        out.family("ganger_daemon_containers", .gauge, "Containers Ganger has on the daemon now.")
        for d in snapshot.daemons { out.sample("ganger_daemon_containers", ["daemon": d.url], d.containers) }
        out.family("ganger_daemon_max_containers", .gauge, "The daemon's container cap; -1 means unlimited.")
        for d in snapshot.daemons { out.sample("ganger_daemon_max_containers", ["daemon": d.url], d.maxContainers) }
        out.family("ganger_daemon_launches_in_flight", .gauge, "Launches between their create call and their container's start.")
        for d in snapshot.daemons { out.sample("ganger_daemon_launches_in_flight", ["daemon": d.url], d.launching) }
        out.family("ganger_daemon_launch_window", .gauge, "Launches the daemon may have in flight now (adaptive); absent when windows are off.")
        for d in snapshot.daemons { if let window = d.launchWindow { out.sample("ganger_daemon_launch_window", ["daemon": d.url], window) } }

        out.family("ganger_draining", .gauge, "1 while shutting down (not accepting), else 0.")
        out.sample("ganger_draining", [:], snapshot.draining ? 1 : 0)
        out.family("ganger_start_time_seconds", .gauge, "When the instance started, in seconds since the epoch.")
        out.sample("ganger_start_time_seconds", [:], snapshot.startedUnix)
        out.family("ganger_build_info", .gauge, "Always 1; the labels say which instance and version.")
        out.sample("ganger_build_info", ["instance": snapshot.instance, "version": snapshot.version], 1)
        return out.text
    }

    /// A sample value as Prometheus reads it (Go's ParseFloat): shortest round-trip decimal,
    /// `+Inf`, `-Inf`, `NaN`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return value.description
    }

    /// A label value with `\`, `"` and newline escaped as the format requires.
    static func escapeLabel(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// HELP text with `\` and newline escaped.
    static func escapeHelp(_ value: String) -> String {
        value.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }
}

/// Accumulates exposition lines.
private struct MetricsWriter {
    enum Kind: String { case counter, gauge, histogram }

    var text = ""

    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(Metrics.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    /// `labels` are written in the order given; keys are fixed identifiers, values escaped.
    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: some BinaryInteger) {
        line(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: Double) {
        line(name, labels, Metrics.format(value))
    }

    private mutating func line(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{"
            text += labels.map { "\($0.key)=\"\(Metrics.escapeLabel($0.value))\"" }.joined(separator: ",")
            text += "}"
        }
        text += " " + value + "\n"
    }
}
