import KeyholdCore

/// The keys screen: its keys, rotations (also finished at login), and what comes back from the
/// core for them.
extension Model {
    // MARK: Keys

    mutating func keysKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        switch key {
        case .char("r"): startRotation(resume: false, &fx)
        case .char("R"): startRotation(resume: true, &fx)
        case .char("K"):
            guard mayRotate("Rotating the root key") else { return true }
            guard keys.rotation == nil else { toast("Wait for the data-key rotation to finish", error: true); return true }
            confirm(
                .rotateRootKey, title: "Rotate the root key?",
                message:
                    "Every data key and key grant is re-sealed under a new root key, and a new recovery key is shown once. The old recovery key stops working.",
                expected: "rotate")
        case .escape: go(.dashboard, &fx)
        default: return false
        }
        return true
    }

    /// Whether the session may rotate keys; else a toast says why.
    mutating func mayRotate(_ what: String) -> Bool {
        guard let account else { return false }
        if !account.can(.keysManage) { toast("\(what) needs keys.manage", error: true); return false }
        if !account.hasKeyAccess { toast("\(what) needs your key grant (an administrator approves it)", error: true); return false }
        return true
    }

    /// `r` starts a data-key rotation, `R` resumes an interrupted one.
    mutating func startRotation(resume: Bool, _ fx: inout [Effect]) {
        guard mayRotate(resume ? "Resuming a rotation" : "Rotating the data key") else { return }
        if keys.rotation != nil { toast("A rotation is already running", error: true); return }
        if keys.rotatingRoot { toast("Wait for the root-key rotation to finish", error: true); return }
        let pending = keys.pending
        if resume && keys.status != nil && pending == nil { toast("No interrupted rotation to resume"); return }
        if let p = pending, p.running {
            toast("A rotation to v\(p.targetVersion) is running in another process: wait for it to finish", error: true)
            return
        }
        if !resume, let p = pending {
            toast("A rotation to v\(p.targetVersion) was interrupted: press R to resume it", error: true)
            return
        }
        keys.rotation = RotationProgress(
            done: pending.map { $0.total - $0.remaining } ?? 0, total: pending?.total ?? 0,
            resuming: resume)
        fx.append(.keys(resume ? .resumeRotation : .rotateDataKey))
    }

    // MARK: Results

    mutating func keysResult(_ result: KeysResult, _ fx: inout [Effect]) {
        switch result {
        case .loaded(let status):
            keys.status = status
            keys.pending = status.rotation.map {
                PendingRotation(targetVersion: $0.targetVersion, total: $0.total, remaining: $0.remaining, running: $0.leaseHeld)
            }
            keys.loading = false
            keys.error = nil
        case .rotationProgress(let done, let total):
            if keys.rotation == nil && keys.finishingInterrupted {
                keys.rotation = RotationProgress(done: done, total: total, resuming: true)
                toast("Finishing the data-key rotation that was interrupted (Keys screen: 5)")
            }
            if keys.rotation != nil {
                keys.rotation?.done = done
                keys.rotation?.total = total
            }
        case .rotationFinished(let outcome):
            let atLogin = keys.finishingInterrupted
            keys.finishingInterrupted = false
            if atLogin && outcome == nil { return }  // nothing was interrupted
            keys.rotation = nil
            if let r = outcome {
                var text = "Data key v\(r.targetVersion) active: \(Fmt.plural(r.resealed, "version")) re-sealed"
                if !r.destroyed.isEmpty { text += ", " + r.destroyed.map { "v\($0)" }.joined(separator: " ") + " destroyed" }
                if !r.checkpointed { text += " (WAL checkpoint pending)" }
                toast(text)
            } else {
                toast("No interrupted rotation to resume")
            }
            dashboard.data = nil
            reload(.keys, &fx)
        case .rotationElsewhere(let message):
            // Another process owns the job: its owner finishes it. Not a failure here.
            let atLogin = keys.finishingInterrupted
            keys.finishingInterrupted = false
            keys.rotation = nil
            toast(atLogin ? "A data-key rotation is running in another process; it finishes there" : message)
            dashboard.data = nil
            reload(.keys, &fx)
        case .rootRotated(let key, let version):
            keys.rotatingRoot = false
            overlay = .notice(
                NoticeState(
                    title: "New recovery key",
                    message:
                        "The root key was rotated\(version.map { " (generation \($0))" } ?? ""). This is the new recovery key, shown this once; the old one no longer opens the vault. Write it down and keep it offline.",
                    secret: Sensitive(key)))
            dashboard.data = nil
            reload(.keys, &fx)
        }
    }

    mutating func keysFailed(_ effect: KeysEffect, _ message: String, _ fx: inout [Effect]) {
        switch effect {
        case .load:
            keys.loading = false
            keys.error = message
        case .rotateDataKey, .resumeRotation, .finishInterruptedRotation:
            keys.rotation = nil
            keys.finishingInterrupted = false
            toast(message, error: true)
            reload(.keys, &fx)
        case .rotateRootKey:
            keys.rotatingRoot = false
            toast(message, error: true)
        }
    }
}
