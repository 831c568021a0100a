@_exported import HoistCore
