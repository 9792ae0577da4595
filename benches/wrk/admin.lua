-- Admin reads: GET /admin/v1/products and /admin/v1/settings with an admin token, alternating.
local token = os.getenv("ADMIN")
local n = 0
function request()
  n = n + 1
  local path = (n % 2 == 0) and "/admin/v1/products" or "/admin/v1/settings"
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
