fetch("/api/status")
  .then((r) => r.json())
  .then((s) => { document.getElementById("status").textContent = s.ok ? "ok" : "down"; });
