/**
 * Entry point for the Functions host (package.json "main"): starts telemetry when configured (first, so
 * its setup precedes the registrations), then registers every function.
 */
import "./telemetry.js";
import "./rotationTimer.js";
import "./syncCheckTimer.js";
import "./rotateHttp.js";
import "./statusHttp.js";
import "./doctorHttp.js";
import "./rotationQueue.js";
